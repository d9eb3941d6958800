/* y7deploy lab: libcudart stand-in. Every call answers as a CUDA runtime with no device
 * would; it exists so the parser links and loads as it does on a Jetson. */
#include <stddef.h>
#include "cuda_runtime_api.h"

const dim3 threadIdx = {0, 0, 0}, blockIdx = {0, 0, 0}, blockDim = {1, 1, 1}, gridDim = {1, 1, 1};

cudaError_t cudaMalloc(void** devPtr, size_t size) { (void)size; if (devPtr) *devPtr = 0; return cudaErrorNoDevice; }
cudaError_t cudaFree(void* devPtr) { (void)devPtr; return cudaSuccess; }
cudaError_t cudaMemset(void* p, int v, size_t n) { (void)p; (void)v; (void)n; return cudaErrorNoDevice; }
cudaError_t cudaMemcpy(void* d, const void* s, size_t n, enum cudaMemcpyKind k)
{ (void)d; (void)s; (void)n; (void)k; return cudaErrorNoDevice; }
cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, enum cudaMemcpyKind k, cudaStream_t st)
{ (void)d; (void)s; (void)n; (void)k; (void)st; return cudaErrorNoDevice; }
cudaError_t cudaStreamSynchronize(cudaStream_t s) { (void)s; return cudaErrorNoDevice; }
cudaError_t cudaGetLastError(void) { return cudaErrorNoDevice; }
cudaError_t cudaGetDeviceCount(int* count) { if (count) *count = 0; return cudaErrorNoDevice; }
const char* cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "no CUDA-capable device is detected"; }
unsigned int __cudaPushCallConfiguration(dim3 g, dim3 b, size_t s, cudaStream_t st)
{ (void)g; (void)b; (void)s; (void)st; return 0; }
