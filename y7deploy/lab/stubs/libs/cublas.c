/* y7deploy lab: libcublas stand-in (CUBLAS_STATUS_NOT_INITIALIZED: there is no GPU). */
int cublasCreate_v2(void** handle) { if (handle) *handle = 0; return 1; }
int cublasDestroy_v2(void* handle) { (void)handle; return 0; }
