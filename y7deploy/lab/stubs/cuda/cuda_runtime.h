/* y7deploy lab: stand-in for CUDA's cuda_runtime.h (the runtime API and, in .cu files,
 * the device built-ins). */
#ifndef Y7LAB_CUDA_RUNTIME_H
#define Y7LAB_CUDA_RUNTIME_H
#include "cuda_runtime_api.h"
#endif
