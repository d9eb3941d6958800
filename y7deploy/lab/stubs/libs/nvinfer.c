/* y7deploy lab: libnvinfer stand-in. Y7LAB_TRT_VERSION is the profile's TensorRT as the
 * library reports it (8201 for 8.2.1, 100300 for 10.3.0). */
void* createInferBuilder_INTERNAL(void* logger, int version) { (void)logger; (void)version; return 0; }
void* createInferRuntime_INTERNAL(void* logger, int version) { (void)logger; (void)version; return 0; }
int getInferLibVersion(void) { return Y7LAB_TRT_VERSION; }
