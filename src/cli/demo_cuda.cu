// The demo's actors compiled for the GPU: with a usable CUDA device, `ringkernel demo` (backend auto or cuda)
// runs the same pipeline inside persistent kernels, each actor one warp, talking K2K on the device.
#include <ringkernel/cuda/actor_kernel.cuh>

#include "demo_actors.hpp"

RINGKERNEL_CUDA_ACTOR(ringkernel::cli::Ingest)
RINGKERNEL_CUDA_ACTOR(ringkernel::cli::Transform)
RINGKERNEL_CUDA_ACTOR(ringkernel::cli::Flaky)
RINGKERNEL_CUDA_ACTOR(ringkernel::cli::Aggregate)
