/// @file demo_webgpu.hpp
/// @brief The demo's actors written in the kernel IR DSL, for `ringkernel demo --backend webgpu`.
///
/// The C++ actors of demo_actors.hpp cannot run on WebGPU (no C++ to WGSL compiler), so the same four actors are
/// defined once more as IR programs (webgpu::ActorSpec): same messages, same state, same behaviour, including
/// `flaky`'s injected failure (webgpu::ActorContext::fail) and its supervisor restart. The host side of the demo
/// (producer, probe, verification, table) is shared unchanged.
#pragma once

#include <cstdint>

#include "demo_actors.hpp"
#include "ringkernel/runtime.hpp"

namespace ringkernel::cli {

/// Launches the pipeline of demo_actors.hpp as IR actors on a WebGPU runtime (downstream first, like
/// launch_pipeline). BackendUnavailable when this program was built without the WebGPU component.
Result<Pipeline> launch_webgpu_pipeline(Runtime& rt, const LaunchOptions& lo, unsigned ingest_actors,
                                        std::uint32_t fail_every);

/// The demo pipeline for the runtime's backend (`ringkernel demo` and `serve`): the IR programs on WebGPU, the C++
/// actors of demo_actors.hpp everywhere else.
inline Result<Pipeline> launch_demo_pipeline(Runtime& rt, const LaunchOptions& lo, unsigned ingest_actors,
                                             std::uint32_t fail_every) {
  return rt.backend() == Backend::WebGpu ? launch_webgpu_pipeline(rt, lo, ingest_actors, fail_every)
                                         : launch_pipeline(rt, lo, ingest_actors, fail_every);
}

}  // namespace ringkernel::cli
