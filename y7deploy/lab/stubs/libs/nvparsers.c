/* y7deploy lab: libnvparsers stand-in (the Caffe/UFF parsers of TensorRT 8). */
void* createUffParser_INTERNAL(void) { return 0; }
void* createNvCaffeParser_INTERNAL(void) { return 0; }
