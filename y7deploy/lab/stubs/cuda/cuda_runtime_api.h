/* y7deploy lab: a minimal stand-in for CUDA's cuda_runtime_api.h (declarations only,
 * enough for the fixture parser to compile; there is no GPU behind it). */
#ifndef Y7LAB_CUDA_RUNTIME_API_H
#define Y7LAB_CUDA_RUNTIME_API_H
#include <stddef.h>

typedef enum cudaError { cudaSuccess = 0, cudaErrorInvalidValue = 1 } cudaError_t;
typedef struct CUstream_st* cudaStream_t;

#endif
