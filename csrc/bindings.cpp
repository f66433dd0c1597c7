// The Python module core._engine: the only file that knows Python. It turns numpy arrays into
// weight views (keeping the arrays alive), releases the GIL for all compute, and takes it back
// only to deliver a step event or to read the cancel flag.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "amx_gemm.h"
#include "bf16dot.h"
#include "blas.h"
#include "generate.h"
#include "phase_clock.h"
#include "quant.h"

namespace py = pybind11;
using namespace llada;

namespace {

// _engine.NonFiniteLogits(message, step): a ValueError; core/cpp_engine.py maps it to
// core.errors.NonFiniteLogitsError.
PyObject* nonfinite_type = nullptr;

DType parse_dtype(const std::string& s) {
  if (s == "f32") return DType::F32;
  if (s == "f16") return DType::F16;
  if (s == "bf16") return DType::BF16;
  if (s == "q8_0") return DType::Q8_0;
  if (s == "q4_0") return DType::Q4_0;
  if (s == "q4_k") return DType::Q4_K;
  if (s == "q6_k") return DType::Q6_K;
  throw std::invalid_argument("unknown dtype '" + s + "' (f32, f16, bf16, q8_0, q4_0, q4_k or q6_k)");
}

Kernel parse_kernel(const std::string& s) {
  if (s == "auto") return Kernel::Auto;
  if (s == "blas") return Kernel::Blas;
  if (s == "own") return Kernel::Own;
  throw std::invalid_argument("unknown kernel '" + s + "' (auto, blas or own)");
}

const char* kernel_name(Kernel k) { return resolve_kernel(k) == Kernel::Blas ? "blas" : "own"; }

// A weight view of a C-contiguous numpy array in stored dtype (bf16 as uint16; the Q types as
// uint8 [rows, row bytes], whole blocks per row); the array goes into `keep` so its memory
// outlives the engine.
WeightView view_of(const py::handle& entry, std::vector<py::object>& keep) {
  auto tup = entry.cast<py::tuple>();
  py::array arr = tup[0].cast<py::array>();
  const DType dt = parse_dtype(tup[1].cast<std::string>());
  if (arr.itemsize() != dtype_size(dt)) throw std::invalid_argument("array item size disagrees with its dtype");
  if (!(arr.flags() & py::array::c_style)) throw std::invalid_argument("weight arrays must be C-contiguous");
  WeightView v;
  v.data = arr.data();
  v.dtype = dt;
  if (arr.ndim() == 1) {
    v.rows = 1;
    v.cols = arr.shape(0);
  } else if (arr.ndim() == 2) {
    v.rows = arr.shape(0);
    v.cols = arr.shape(1);
  } else {
    throw std::invalid_argument("weights must be 1-D or 2-D");
  }
  if (is_quant(dt)) {
    const QuantFormat f = quant_format(dt);
    if (v.cols % f.bytes) throw std::invalid_argument("a quantized row must hold whole blocks");
    v.cols = v.cols / f.bytes * f.block;
  }
  keep.push_back(arr);
  return v;
}

std::vector<uint8_t> mask_of(const py::object& mask, ssize_t B, ssize_t L) {
  std::vector<uint8_t> out;
  if (mask.is_none()) return out;
  auto m = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(
      py::module_::import("numpy").attr("asarray")(mask, "uint8"));
  if (!m || m.ndim() != 2 || m.shape(0) != B || m.shape(1) != L)
    throw std::invalid_argument("attention_mask must have the shape of the ids");
  out.assign(m.data(), m.data() + B * L);
  return out;
}

class EngineHandle {
 public:
  EngineHandle(const py::dict& config, const py::dict& tensors, int threads, const std::string& kernel)
      : kernel_(parse_kernel(kernel)), pool_(std::make_unique<ThreadPool>(threads)) {
    ModelConfig& c = w_.cfg;
    c.d_model = config["d_model"].cast<int>();
    c.n_layers = config["n_layers"].cast<int>();
    c.n_heads = config["n_heads"].cast<int>();
    c.n_kv_heads = config["n_kv_heads"].cast<int>();
    c.head_dim = config["head_dim"].cast<int>();
    c.ffn = config["mlp_hidden_size"].cast<int>();
    c.vocab = config["vocab"].cast<int>();
    c.rope_theta = config["rope_theta"].cast<float>();
    c.rms_eps = config["rms_norm_eps"].cast<float>();
    c.rope_interleaved = config.contains("rope_interleaved") && config["rope_interleaved"].cast<bool>();
    w_.wte = view_of(tensors["wte"], keep_);
    w_.ln_f = view_of(tensors["ln_f"], keep_);
    w_.lm_head = view_of(tensors["lm_head"], keep_);
    for (const py::handle& layer : tensors["layers"].cast<py::list>()) {
      auto d = layer.cast<py::dict>();
      LayerWeights l;
      l.attn_norm = view_of(d["attn_norm"], keep_);
      l.wq = view_of(d["q_proj"], keep_);
      l.wk = view_of(d["k_proj"], keep_);
      l.wv = view_of(d["v_proj"], keep_);
      l.wo = view_of(d["attn_out"], keep_);
      l.ff_norm = view_of(d["ff_norm"], keep_);
      l.w_gate = view_of(d["ff_proj"], keep_);
      l.w_up = view_of(d["up_proj"], keep_);
      l.w_down = view_of(d["ff_out"], keep_);
      w_.layers.push_back(l);
    }
    check_weights(w_);
  }

  int threads() const { return pool_->size(); }
  std::string kernel() const { return kernel_name(kernel_); }
  void set_kernel(const std::string& k) { kernel_ = parse_kernel(k); }

  py::array_t<float> forward_logits(const py::object& ids_obj, const py::object& mask_obj) {
    auto ids = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(ids_obj);
    if (!ids || ids.ndim() != 2) throw std::invalid_argument("input_ids must be a 2-D integer array [B, L]");
    const ssize_t B = ids.shape(0), L = ids.shape(1);
    if (B == 0 || L == 0) throw std::invalid_argument("input_ids must not be empty");
    std::vector<int64_t> tokens(ids.data(), ids.data() + B * L);
    check_ids(tokens);
    std::vector<uint8_t> mask = mask_of(mask_obj, B, L);
    py::array_t<float> out({B, L, ssize_t(w_.cfg.vocab)});
    float* dst = out.mutable_data();
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      ForwardArgs a;
      a.tokens = tokens.data();
      a.key_mask = mask.empty() ? nullptr : mask.data();
      a.B = int(B);
      a.L = int(L);
      a.head_from = 0;
      a.head_to = int(L);
      a.logits = dst;
      forward(w_, *pool_, kernel_, a, ws_);
    }
    return out;
  }

  // The block KV cache at the forward level (tests): a full pass over `first` storing keys and
  // values, then rows [row_from, row_to) of `ids` recomputed against the cache (the other rows'
  // tokens of `ids` are not read). -> (logits of `first` [B, L, V], logits of the rows [B, R, V])
  py::tuple forward_cached(const py::object& first_obj, const py::object& ids_obj, const py::object& mask_obj,
                           int row_from, int row_to) {
    auto first = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(first_obj);
    auto ids = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(ids_obj);
    if (!first || !ids || first.ndim() != 2 || ids.ndim() != 2 || first.shape(0) != ids.shape(0) ||
        first.shape(1) != ids.shape(1))
      throw std::invalid_argument("first and input_ids must be 2-D integer arrays of one shape [B, L]");
    const ssize_t B = ids.shape(0), L = ids.shape(1);
    if (B == 0 || L == 0) throw std::invalid_argument("input_ids must not be empty");
    if (row_from < 0 || row_to > L || row_from >= row_to) throw std::invalid_argument("bad row range");
    std::vector<int64_t> t0(first.data(), first.data() + B * L), t1(ids.data(), ids.data() + B * L);
    check_ids(t0);
    check_ids(t1);
    std::vector<uint8_t> mask = mask_of(mask_obj, B, L);
    const ssize_t R = row_to - row_from;
    py::array_t<float> full({B, L, ssize_t(w_.cfg.vocab)}), rows({B, R, ssize_t(w_.cfg.vocab)});
    float* full_p = full.mutable_data();
    float* rows_p = rows.mutable_data();
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      KVCache cache;
      ForwardArgs a;
      a.tokens = t0.data();
      a.key_mask = mask.empty() ? nullptr : mask.data();
      a.B = int(B);
      a.L = int(L);
      a.head_from = 0;
      a.head_to = int(L);
      a.logits = full_p;
      a.cache_use = CacheUse::Store;
      a.cache = &cache;
      forward(w_, *pool_, kernel_, a, ws_);
      a.tokens = t1.data();
      a.head_from = a.row_from = row_from;
      a.head_to = a.row_to = row_to;
      a.logits = rows_p;
      a.cache_use = CacheUse::Rows;
      forward(w_, *pool_, kernel_, a, ws_);
    }
    return py::make_tuple(full, rows);
  }

  // -> (canvas [B, P + gen_length] int64, cancelled, forward_passes). answer_init (B, gen_length)
  // int ids, given_is_prompt (B, gen_length) bool, start_step >= 0: generate.h AnswerInit.
  py::tuple generate(const py::object& prompt_obj, const py::object& mask_obj, const GenerateParams& p,
                     const py::object& on_step, const py::object& is_cancelled, const py::object& answer_obj,
                     const py::object& given_obj, int start_step) {
    auto ids = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(prompt_obj);
    if (!ids || ids.ndim() != 2) throw std::invalid_argument("prompt_ids must be a 2-D integer array [B, P]");
    const ssize_t B = ids.shape(0), P = ids.shape(1);
    if (B == 0) throw std::invalid_argument("prompt_ids must have at least one row");
    std::vector<int64_t> prompt(ids.data(), ids.data() + B * P);
    check_ids(prompt);
    std::vector<uint8_t> mask = mask_of(mask_obj, B, P);
    check_ids({p.mask_id, p.eos_id, p.eot_id});  // they index the logits' columns
    const ssize_t G = p.gen_length;
    // generate.cpp counts positions and steps in int: refuse sizes past core/params.py's caps
    // (1 << 20) before P + G or start_step + steps can overflow or size an allocation (found by
    // tests/fuzz/fuzz_engine.py: gen_length 2^31 - 1 overflowed P + G, 2^28 allocated gigabytes,
    // start_step 2^31 - 1 overflowed the step count).
    for (const auto& [what, n] : {std::pair<const char*, int64_t>{"prompt length", P}, {"gen_length", G},
                                  {"steps", p.steps}, {"start_step", start_step}})
      if (n > (int64_t(1) << 20))
        throw std::invalid_argument(std::string(what) + " " + std::to_string(n) + " is more than 1048576");
    const std::string shape = "(" + std::to_string(B) + ", " + std::to_string(G) + ")";
    std::vector<int64_t> answer;
    if (!answer_obj.is_none()) {
      auto a = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(answer_obj);
      if (!a || a.ndim() != 2 || a.shape(0) != B || a.shape(1) != G)
        throw std::invalid_argument("answer_init must be an integer array of shape (batch, gen_length) = " + shape);
      answer.assign(a.data(), a.data() + B * G);
      check_ids(answer, "answer_init");
    }
    std::vector<uint8_t> given;
    if (!given_obj.is_none()) {
      auto g = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(
          py::module_::import("numpy").attr("asarray")(given_obj, "uint8"));
      if (!g || g.ndim() != 2 || g.shape(0) != B || g.shape(1) != G)
        throw std::invalid_argument("given_is_prompt must be a bool array of shape (batch, gen_length) = " + shape);
      given.assign(g.data(), g.data() + B * G);
    }
    if (start_step < 0) throw std::invalid_argument("start_step must be >= 0, got " + std::to_string(start_step));
    AnswerInit init;
    init.answer = answer.empty() ? nullptr : answer.data();
    init.given_is_prompt = given.empty() ? nullptr : given.data();
    init.start_step = start_step;

    std::exception_ptr py_error;  // an exception raised by a Python callback, rethrown below
    StepCallback step_cb;
    if (!on_step.is_none()) {
      step_cb = [&](const StepData& s) -> bool {
        py::gil_scoped_acquire gil;
        try {
          py::object r = on_step(s.step, s.total_steps, s.block, s.num_blocks, s.positions, s.tokens,
                                 s.confidences, s.elapsed, s.forward_passes);
          return r.cast<bool>();
        } catch (...) {
          py_error = std::current_exception();
          return false;
        }
      };
    }
    CancelCheck cancel_cb;
    if (!is_cancelled.is_none()) {
      cancel_cb = [&]() -> bool {
        py::gil_scoped_acquire gil;
        try {
          return is_cancelled().cast<bool>();
        } catch (...) {
          py_error = std::current_exception();
          return true;
        }
      };
    }
    GenerateResult res;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      res = llada::generate(w_, *pool_, kernel_, prompt.data(), mask.empty() ? nullptr : mask.data(), int(B),
                            int(P), p, step_cb, cancel_cb, init);
    }
    if (py_error) std::rethrow_exception(py_error);
    if (res.nonfinite_step > 0) {
      const std::string msg = "step " + std::to_string(res.nonfinite_step) +
                              ": the model produced a non-finite logit (NaN or +inf) at a masked position";
      PyErr_SetObject(nonfinite_type, py::make_tuple(msg, res.nonfinite_step).ptr());
      throw py::error_already_set();
    }
    py::array_t<int64_t> canvas({B, P + p.gen_length});
    std::copy(res.canvas.begin(), res.canvas.end(), canvas.mutable_data());
    return py::make_tuple(canvas, res.cancelled, res.forward_passes);
  }

 private:
  void check_ids(const std::vector<int64_t>& ids, const std::string& where = "") const {
    for (int64_t t : ids)
      if (t < 0 || t >= w_.cfg.vocab)
        throw std::invalid_argument((where.empty() ? "" : where + ": ") + "token id " + std::to_string(t) +
                                    " is outside the vocabulary [0, " + std::to_string(w_.cfg.vocab) + ")");
  }

  ModelWeights w_;
  Kernel kernel_;
  std::unique_ptr<ThreadPool> pool_;
  Workspace ws_;
  std::vector<py::object> keep_;
  std::mutex mu_;
};

// One pool per thread count, kept for the process: a pool started per call cost the small
// products of the kernel benchmarks up to a third of their time (RESULTS_quant.md). A pool runs
// one loop at a time, so concurrent callers queue on it.
ThreadPool& pool_of(int threads) {
  if (threads < 1 || threads > 1024) throw std::invalid_argument("threads must be 1..1024");
  static std::mutex mu;
  static std::map<int, std::unique_ptr<ThreadPool>> pools;
  std::lock_guard<std::mutex> lock(mu);
  auto& p = pools[threads];
  if (!p) p = std::make_unique<ThreadPool>(threads);
  return *p;
}

// Y = X W^T for tests and benchmarks of the kernels alone.
py::array_t<float> matmul(const py::array_t<float, py::array::c_style | py::array::forcecast>& x,
                          const py::array& w, const std::string& dtype, const std::string& kernel, int threads) {
  std::vector<py::object> keep;
  WeightView v = view_of(py::make_tuple(py::array::ensure(w, py::array::c_style), dtype), keep);
  if (x.ndim() != 2 || x.shape(1) != v.cols) throw std::invalid_argument("x must be [M, K] with K = w.shape[1]");
  const ssize_t M = x.shape(0), N = v.rows, K = v.cols;
  py::array_t<float> y({M, N});
  float* yp = y.mutable_data();
  const float* xp = x.data();
  {
    py::gil_scoped_release nogil;
    matmul_wt(pool_of(threads), parse_kernel(kernel), M, N, K, xp, K, v.data, v.dtype, K, yp, N, false);
  }
  return y;
}

// The values of a quantized array [rows, row bytes] as f32 [rows, cols] (tests).
py::array_t<float> dequantize_array(const py::array& w, const std::string& dtype) {
  std::vector<py::object> keep;
  WeightView v = view_of(py::make_tuple(py::array::ensure(w, py::array::c_style), dtype), keep);
  if (!is_quant(v.dtype)) throw std::invalid_argument("dequantize takes a quantized dtype");
  py::array_t<float> out({ssize_t(v.rows), ssize_t(v.cols)});
  float* dst = out.mutable_data();
  for (int64_t r = 0; r < v.rows; ++r) convert_to_f32(v.data, v.dtype, r * v.cols, v.cols, dst + r * v.cols);
  return out;
}

}  // namespace

PYBIND11_MODULE(_engine, m) {
  m.doc() = "LLaDA C++ engine: forward pass and diffusion sampler";
  // One reference kept for the life of the process (no static destructor after finalization).
  nonfinite_type = PyErr_NewException("core._engine.NonFiniteLogits", PyExc_ValueError, nullptr);
  if (nonfinite_type == nullptr) throw py::error_already_set();
  m.attr("NonFiniteLogits") = py::reinterpret_borrow<py::object>(nonfinite_type);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const std::invalid_argument& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
  m.def("load_blas", [](const std::string& path) { return blas::load(path); }, py::arg("path"),
        "dlopen an OpenBLAS library; returns '' on success, else the reason");
  m.def("blas_available", &blas::available);
  m.def("dequantize", &dequantize_array, py::arg("w"), py::arg("dtype"));
  m.def("quant_isa", &quant_isa, "instruction set of the quantized kernels: amx (Q8_0, Q4_0, Q4_K on AMX-INT8 tiles, Q6_K on avx512vnni), avx512vnni, avxvnni, avx2 or scalar");
  m.def("set_quant_isa", &set_quant_isa, py::arg("name"), "use a narrower one (tests); False if unavailable");
  m.def("bf16_isa", &bf16_isa, "bf16 products of <= 64 rows: amx, avx512 or f32 (weights converted)");
  m.def("set_bf16_isa", &set_bf16_isa, py::arg("name"), "pick amx, avx512 or f32 (tests); False if unavailable");
  m.def("amx_gemm_rows", [](const std::string& dtype) { return amx_gemm_rows(parse_dtype(dtype)); },
        py::arg("dtype"),
        "fewest rows whose products with these weights run on AMX-BF16 tiles (amx_gemm.h; 0 = never)");
  m.def("set_amx_gemm_rows", &set_amx_gemm_rows, py::arg("bf16_rows"), py::arg("quant_rows"),
        "pin the thresholds (tests, benchmarks; 0 = never)");
  m.def("amx_gemm_available", &bf16_amx_available, "AMX-BF16 usable here (CPU and OS)");
  m.def(
      "phase_times",
      [] {
        std::map<std::string, double> out;
        for (int i = 0; i < int(Phase::Count); ++i)
          out[phase_name(Phase(i))] = double(phase_ns()[i].load(std::memory_order_relaxed)) * 1e-9;
        return out;
      },
      "seconds per phase since reset_phase_times (phase_clock.h): products, attention, head, forward (whole "
      "passes), propose, callback, steps (whole sampler steps)");
  m.def("reset_phase_times", &reset_phase_times);
  m.def("matmul", &matmul, py::arg("x"), py::arg("w"), py::arg("dtype"), py::arg("kernel") = "auto",
        py::arg("threads") = 1);
#ifdef LLADA_AVX2
  m.attr("simd") = "avx2";
#else
  m.attr("simd") = "scalar";
#endif
  // The generation parameters as the C++ struct itself (generate.h): one definition, typed in
  // core/_engine.pyi; core/cpp_engine.py fills it from GenerationParams.
  py::enum_<Remasking>(m, "Remasking")
      .value("low_confidence", Remasking::LowConfidence)
      .value("random", Remasking::Random)
      .value("margin", Remasking::Margin)
      .value("entropy", Remasking::Entropy);
  py::enum_<Decoding>(m, "Decoding")
      .value("fixed", Decoding::Fixed)
      .value("threshold", Decoding::Threshold)
      .value("factor", Decoding::Factor);
  py::enum_<CacheMode>(m, "CacheMode")
      .value("none", CacheMode::None)
      .value("prefix", CacheMode::Prefix)
      .value("dual", CacheMode::Dual);
  py::class_<GenerateParams>(m, "GenerateParams")
      .def(py::init<>())
      .def_readwrite("steps", &GenerateParams::steps)
      .def_readwrite("gen_length", &GenerateParams::gen_length)
      .def_readwrite("block_length", &GenerateParams::block_length)
      .def_readwrite("temperature", &GenerateParams::temperature)
      .def_readwrite("cfg_scale", &GenerateParams::cfg_scale)
      .def_readwrite("remasking", &GenerateParams::remasking)
      .def_readwrite("mask_id", &GenerateParams::mask_id)
      .def_readwrite("eos_id", &GenerateParams::eos_id)
      .def_readwrite("eot_id", &GenerateParams::eot_id)
      .def_readwrite("logits_eos_inf", &GenerateParams::logits_eos_inf)
      .def_readwrite("confidence_eos_eot_inf", &GenerateParams::confidence_eos_eot_inf)
      .def_readwrite("seed", &GenerateParams::seed)
      .def_readwrite("decoding", &GenerateParams::decoding)
      .def_readwrite("threshold", &GenerateParams::threshold)
      .def_readwrite("factor", &GenerateParams::factor)
      .def_readwrite("cache", &GenerateParams::cache);
  py::class_<EngineHandle>(m, "Engine")
      .def(py::init<const py::dict&, const py::dict&, int, const std::string&>(), py::arg("config"),
           py::arg("tensors"), py::arg("threads"), py::arg("kernel") = "auto")
      .def_property_readonly("threads", &EngineHandle::threads)
      .def_property("kernel", &EngineHandle::kernel, &EngineHandle::set_kernel)
      .def("forward_logits", &EngineHandle::forward_logits, py::arg("input_ids"), py::arg("attention_mask") = py::none())
      .def("forward_cached", &EngineHandle::forward_cached, py::arg("first"), py::arg("input_ids"),
           py::arg("attention_mask"), py::arg("row_from"), py::arg("row_to"))
      .def("generate", &EngineHandle::generate, py::arg("prompt_ids"), py::arg("attention_mask"), py::arg("params"),
           py::arg("on_step") = py::none(), py::arg("is_cancelled") = py::none(),
           py::arg("answer_init") = py::none(), py::arg("given_is_prompt") = py::none(), py::arg("start_step") = 0);
}
