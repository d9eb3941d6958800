/* y7deploy lab: what nvcc makes of CUDA's language extensions, so the lab's nvcc
 * stand-in can hand a .cu file to g++ (force-included into every .cu it compiles).
 * Kernels become host functions; a launch `k<<<g, b, s, st>>>(args)` becomes
 * `(y7lab_launch(g, b, s, st), k)(args)`. Nothing here runs on a GPU. */
#ifndef Y7LAB_CUDA_DEVICE_H
#define Y7LAB_CUDA_DEVICE_H
#include "cuda_runtime_api.h"

#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __constant__ static const
#define __forceinline__ inline
#define __restrict__

extern "C" const dim3 threadIdx, blockIdx, blockDim, gridDim;

static inline unsigned int y7lab_launch(dim3 grid, dim3 block, size_t shared = 0, cudaStream_t stream = 0)
{
  return __cudaPushCallConfiguration(grid, block, shared, stream);
}

static inline int atomicAdd(int* address, int value) { int old = *address; *address += value; return old; }
static inline float atomicAdd(float* address, float value) { float old = *address; *address += value; return old; }
static inline void __syncthreads() {}
#endif
