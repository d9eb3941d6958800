/* y7deploy lab: libnvonnxparser stand-in. */
int getNvOnnxParserVersion(void) { return Y7LAB_TRT_VERSION; }
void* createNvOnnxParser_INTERNAL(void* network, void* logger, int version)
{ (void)network; (void)logger; (void)version; return 0; }
