// The consumer's device code: one line per actor type. No RingKernel-specific compile options here: the
// installed RingKernel::cuda target brings what nvcc needs.
#include <ringkernel/cuda/actor_kernel.cuh>

#include "gpu_actors.hpp"

RINGKERNEL_CUDA_ACTOR(consumer::Accumulator)
