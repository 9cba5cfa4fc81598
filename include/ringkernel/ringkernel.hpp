/// @file ringkernel.hpp
/// @brief Umbrella header: everything a host program needs to define actors and run them.
#pragma once

#include "ringkernel/actor.hpp"         // IWYU pragma: export
#include "ringkernel/backpressure.hpp"  // IWYU pragma: export
#include "ringkernel/dead_letter.hpp"   // IWYU pragma: export
#include "ringkernel/error.hpp"         // IWYU pragma: export
#include "ringkernel/hlc.hpp"           // IWYU pragma: export
#include "ringkernel/lifecycle.hpp"     // IWYU pragma: export
#include "ringkernel/message.hpp"       // IWYU pragma: export
#include "ringkernel/metrics.hpp"       // IWYU pragma: export
#include "ringkernel/pubsub.hpp"        // IWYU pragma: export
#include "ringkernel/registry.hpp"      // IWYU pragma: export
#include "ringkernel/ring.hpp"          // IWYU pragma: export
#include "ringkernel/runtime.hpp"       // IWYU pragma: export
#include "ringkernel/supervisor.hpp"    // IWYU pragma: export

/// RingKernel: GPU-native persistent actors (CPU backend today; CUDA, WebGPU and Metal backends build on
/// the same message, queue, clock and lifecycle layouts).
namespace ringkernel {}
