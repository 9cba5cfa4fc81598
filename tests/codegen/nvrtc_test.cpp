// CUDA lowering, for real: every parity kernel's CUDA C++ is compiled with NVRTC (loaded with dlopen at run
// time, never linked) and, when the CUDA driver and a device exist, run and compared with the interpreter.
// Without libnvrtc the tests skip; without a device only the compile step runs.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "codegen/parity.hpp"
#include "ringkernel/ir/passes.hpp"

namespace {

namespace ir = ringkernel::ir;

const std::vector<rkt::Case>& cases() {
  static const std::vector<rkt::Case> all = rkt::parity_cases();
  return all;
}

// --- the two C APIs, declared by hand (no CUDA headers on the build machine) ---------------------------------
using nvrtcProgram = struct _nvrtcProgram*;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st*;
using CUmodule = struct CUmod_st*;
using CUfunction = struct CUfunc_st*;

struct Cuda {
  // NVRTC
  int (*nvrtcCreateProgram)(nvrtcProgram*, const char*, const char*, int, const char* const*, const char* const*) = nullptr;
  int (*nvrtcCompileProgram)(nvrtcProgram, int, const char* const*) = nullptr;
  int (*nvrtcGetProgramLogSize)(nvrtcProgram, std::size_t*) = nullptr;
  int (*nvrtcGetProgramLog)(nvrtcProgram, char*) = nullptr;
  int (*nvrtcGetPTXSize)(nvrtcProgram, std::size_t*) = nullptr;
  int (*nvrtcGetPTX)(nvrtcProgram, char*) = nullptr;
  int (*nvrtcDestroyProgram)(nvrtcProgram*) = nullptr;
  // Driver
  int (*cuInit)(unsigned) = nullptr;
  int (*cuDeviceGetCount)(int*) = nullptr;
  int (*cuDeviceGet)(int*, int) = nullptr;
  int (*cuDeviceGetAttribute)(int*, int, int) = nullptr;
  int (*cuDevicePrimaryCtxRetain)(CUcontext*, int) = nullptr;
  int (*cuCtxSetCurrent)(CUcontext) = nullptr;
  int (*cuModuleLoadData)(CUmodule*, const void*) = nullptr;
  int (*cuModuleUnload)(CUmodule) = nullptr;
  int (*cuModuleGetFunction)(CUfunction*, CUmodule, const char*) = nullptr;
  int (*cuMemAlloc)(CUdeviceptr*, std::size_t) = nullptr;
  int (*cuMemFree)(CUdeviceptr) = nullptr;
  int (*cuMemcpyHtoD)(CUdeviceptr, const void*, std::size_t) = nullptr;
  int (*cuMemcpyDtoH)(void*, CUdeviceptr, std::size_t) = nullptr;
  int (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void*, void**, void**) = nullptr;
  int (*cuCtxSynchronize)() = nullptr;

  bool nvrtc = false;
  bool device = false;
  std::string why;
  std::string arch = "compute_80";
};

template <class F>
bool sym(void* lib, const char* name, F& out) {
  out = reinterpret_cast<F>(dlsym(lib, name));
  return out != nullptr;
}

Cuda& cuda() {
  static Cuda c = [] {
    Cuda c;
    void* nv = nullptr;
    // By soname first, then from the toolkit itself (it is often installed without being on the loader path).
    std::vector<std::string> names = {"libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"};
    for (const char* root : std::initializer_list<const char*>{std::getenv("CUDA_HOME"), std::getenv("CUDA_PATH"), "/usr/local/cuda"}) {
      if (root != nullptr) names.push_back(std::string(root) + "/lib64/libnvrtc.so");
    }
    for (const auto& n : names) {
      if ((nv = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL)) != nullptr) break;
    }
    if (nv == nullptr) {
      c.why = "libnvrtc not found (install the CUDA toolkit or put libnvrtc on LD_LIBRARY_PATH)";
      return c;
    }
    c.nvrtc = sym(nv, "nvrtcCreateProgram", c.nvrtcCreateProgram) && sym(nv, "nvrtcCompileProgram", c.nvrtcCompileProgram) &&
              sym(nv, "nvrtcGetProgramLogSize", c.nvrtcGetProgramLogSize) && sym(nv, "nvrtcGetProgramLog", c.nvrtcGetProgramLog) &&
              sym(nv, "nvrtcGetPTXSize", c.nvrtcGetPTXSize) && sym(nv, "nvrtcGetPTX", c.nvrtcGetPTX) &&
              sym(nv, "nvrtcDestroyProgram", c.nvrtcDestroyProgram);
    if (!c.nvrtc) {
      c.why = "libnvrtc lacks expected symbols";
      return c;
    }
    void* drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (drv == nullptr) {
      c.why = "no CUDA driver (libcuda.so.1): compile only";
      return c;
    }
    const bool ok = sym(drv, "cuInit", c.cuInit) && sym(drv, "cuDeviceGetCount", c.cuDeviceGetCount) && sym(drv, "cuDeviceGet", c.cuDeviceGet) &&
                    sym(drv, "cuDeviceGetAttribute", c.cuDeviceGetAttribute) && sym(drv, "cuDevicePrimaryCtxRetain", c.cuDevicePrimaryCtxRetain) &&
                    sym(drv, "cuCtxSetCurrent", c.cuCtxSetCurrent) && sym(drv, "cuModuleLoadData", c.cuModuleLoadData) &&
                    sym(drv, "cuModuleUnload", c.cuModuleUnload) && sym(drv, "cuModuleGetFunction", c.cuModuleGetFunction) &&
                    sym(drv, "cuMemAlloc_v2", c.cuMemAlloc) && sym(drv, "cuMemFree_v2", c.cuMemFree) && sym(drv, "cuMemcpyHtoD_v2", c.cuMemcpyHtoD) &&
                    sym(drv, "cuMemcpyDtoH_v2", c.cuMemcpyDtoH) && sym(drv, "cuLaunchKernel", c.cuLaunchKernel) &&
                    sym(drv, "cuCtxSynchronize", c.cuCtxSynchronize);
    int count = 0, dev = 0, major = 0, minor = 0;
    CUcontext ctx = nullptr;
    if (!ok || c.cuInit(0) != 0 || c.cuDeviceGetCount(&count) != 0 || count == 0 || c.cuDeviceGet(&dev, 0) != 0 ||
        c.cuDeviceGetAttribute(&major, 75, dev) != 0 || c.cuDeviceGetAttribute(&minor, 76, dev) != 0 ||
        c.cuDevicePrimaryCtxRetain(&ctx, dev) != 0 || c.cuCtxSetCurrent(ctx) != 0) {
      c.why = "no usable CUDA device: compile only";
      return c;
    }
    c.device = true;
    c.arch = "compute_" + std::to_string(major * 10 + minor);
    return c;
  }();
  return c;
}

// Compiles CUDA source to PTX; "" on success (PTX in `ptx`), else the NVRTC log.
std::string compile(const std::string& src, const std::string& name, std::string& ptx) {
  Cuda& c = cuda();
  nvrtcProgram prog = nullptr;
  if (c.nvrtcCreateProgram(&prog, src.c_str(), (name + ".cu").c_str(), 0, nullptr, nullptr) != 0) return "nvrtcCreateProgram failed";
  // --fmad=false: the IR has separate multiply and add; letting NVRTC contract them into FMAs changes the
  // last bit of results that the parity check compares exactly (see docs/ir.md).
  std::vector<std::string> opts = {"--gpu-architecture=" + c.arch, "-std=c++17", "--fmad=false"};
  for (const char* root : std::initializer_list<const char*>{std::getenv("CUDA_HOME"), std::getenv("CUDA_PATH"), "/usr/local/cuda"}) {
    if (root != nullptr && std::filesystem::exists(std::string(root) + "/include/cuda_fp16.h")) {
      opts.push_back(std::string("--include-path=") + root + "/include");
      break;
    }
  }
  std::vector<const char*> argv;
  for (const auto& o : opts) argv.push_back(o.c_str());
  const int rc = c.nvrtcCompileProgram(prog, static_cast<int>(argv.size()), argv.data());
  std::size_t log_size = 0;
  c.nvrtcGetProgramLogSize(prog, &log_size);
  std::string log(log_size, '\0');
  if (log_size != 0) c.nvrtcGetProgramLog(prog, log.data());
  std::string err;
  if (rc != 0) {
    err = "NVRTC failed:\n" + log;
  } else {
    std::size_t n = 0;
    c.nvrtcGetPTXSize(prog, &n);
    ptx.assign(n, '\0');
    c.nvrtcGetPTX(prog, ptx.data());
  }
  c.nvrtcDestroyProgram(&prog);
  return err;
}

// Runs PTX on the device with the case's arguments (updated in place).
std::string run(const std::string& ptx, const ir::GeneratedCode& code, const ir::Kernel& k, std::array<std::uint32_t, 3> grid,
                std::vector<rkt::Arg>& args) {
  Cuda& c = cuda();
  CUmodule mod = nullptr;
  if (c.cuModuleLoadData(&mod, ptx.c_str()) != 0) return "cuModuleLoadData failed";
  CUfunction fn = nullptr;
  if (c.cuModuleGetFunction(&fn, mod, code.entry.c_str()) != 0) return "entry point not found";
  std::vector<CUdeviceptr> ptrs(args.size(), 0);
  std::vector<std::array<std::byte, 8>> values(args.size());
  std::vector<void*> params(args.size());
  std::string err;
  for (std::size_t i = 0; i < args.size() && err.empty(); ++i) {
    const ir::Type t = k.type_of(k.params[i]);
    if (args[i].kind == ir::ArgKind::Scalar) {
      std::memcpy(values[i].data(), &args[i].bits, 8);  // little-endian: the low bytes hold narrower scalars
      params[i] = values[i].data();
      continue;
    }
    if (c.cuMemAlloc(&ptrs[i], std::max<std::size_t>(args[i].bytes.size(), 16)) != 0 ||
        c.cuMemcpyHtoD(ptrs[i], args[i].bytes.data(), args[i].bytes.size()) != 0) {
      err = "device allocation/copy failed";
    }
    params[i] = &ptrs[i];
    (void)t;
  }
  if (err.empty() && c.cuLaunchKernel(fn, grid[0], grid[1], grid[2], k.workgroup[0], k.workgroup[1], k.workgroup[2], 0, nullptr,
                                      params.data(), nullptr) != 0) {
    err = "launch failed";
  }
  if (err.empty() && c.cuCtxSynchronize() != 0) err = "kernel failed";
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (ptrs[i] == 0) continue;
    if (err.empty() && c.cuMemcpyDtoH(args[i].bytes.data(), ptrs[i], args[i].bytes.size()) != 0) err = "copy back failed";
    c.cuMemFree(ptrs[i]);
  }
  c.cuModuleUnload(mod);
  return err;
}

class Nvrtc : public ::testing::TestWithParam<std::size_t> {};

// Compiling needs only libnvrtc (CI has the toolkit, not a GPU), so it is its own test and does not skip there.
TEST_P(Nvrtc, CompilesWithNvrtc) {
  Cuda& c = cuda();
  if (!c.nvrtc) GTEST_SKIP() << c.why;
  const rkt::Case& k = cases()[GetParam()];
  auto low = ir::lower(k.kernel, ir::target_preset(ir::TargetId::CudaSm90), k.fallback);
  ASSERT_TRUE(low.ok()) << low.error().describe();
  std::string ptx;
  ASSERT_EQ(compile(low->code.source, k.name, ptx), "") << low->code.source;
  EXPECT_NE(ptx.find(".entry"), std::string::npos) << "NVRTC produced no kernel entry point";
}

TEST_P(Nvrtc, RunsOnTheGpuAndMatchesTheInterpreter) {
  Cuda& c = cuda();
  if (!c.nvrtc) GTEST_SKIP() << c.why;
  const rkt::Case& k = cases()[GetParam()];
  auto low = ir::lower(k.kernel, ir::target_preset(ir::TargetId::CudaSm90), k.fallback);
  ASSERT_TRUE(low.ok()) << low.error().describe();
  std::string ptx;
  ASSERT_EQ(compile(low->code.source, k.name, ptx), "") << low->code.source;
  if (!c.device) GTEST_SKIP() << "no GPU: " << c.why;
  auto want = rkt::run_interpreter(k);
  ASSERT_TRUE(want.ok()) << want.error().describe();
  std::vector<rkt::Arg> got = k.args;
  ASSERT_EQ(run(ptx, low->code, low->kernel, k.grid, got), "");
  EXPECT_EQ(k.check(got), "") << "host reference";
  EXPECT_EQ(rkt::compare(k, *want, got), "") << "vs interpreter";
}

std::string case_name(const ::testing::TestParamInfo<std::size_t>& info) { return cases()[info.param].name; }
INSTANTIATE_TEST_SUITE_P(Kernels, Nvrtc, ::testing::Range<std::size_t>(0, cases().size()), case_name);

} // namespace
