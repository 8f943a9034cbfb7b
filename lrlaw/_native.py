r"""Native CPU kernels: the schedule areas (S1, the momentum and S2 in one C loop), and
the effective-LR law's terms with their derivatives.

XLA:CPU runs a ``lax.scan`` at roughly 5-20 ns per step, and every vectorised
reformulation of the momentum recurrence tried (``benchmarks/README.md``) costs
more passes over memory than it saves; none beats numpy's ``cumsum`` +
``scipy.signal.lfilter``.  A plain C loop does (one pass, bound by the latency
of the multiply-add chain ``m = lam m + d``, ~1.3 ns per step).  This module
compiles that loop once per machine (and a variant that returns S1 and S2 only at
given steps, reading the LRs once and writing nothing per step) and registers it as
an XLA FFI custom call
(``jax.ffi``), so it runs inside ``jax.jit`` and ``jax.vmap`` like any other op;
:mod:`lrlaw.laws.areas` gives it a JVP through the pure-JAX scan, so ``grad`` and
``jvp`` still work.

The recurrences are the ones of :mod:`lrlaw.laws.areas` (Tissue et al. 2024,
arXiv 2408.11029, eqs. 2-3), evaluated in the same order as the JAX scan::

    d_i = eta_{i-1} - eta_i  (eta_{-1} = 0),   m_i = lam m_{i-1} + d_i,
    S1(s) = sum_{i=1..s} eta_i,                S2(s) = sum_{i=0..s} m_i,

with the sums accumulated in two levels (blocks of 256 steps), as the scan does.

A batch (``jax.vmap``: one call gets every row) runs four schedules per pass of the
loop, each lane with one row's operations in that row's order (the same bits as a call
per row), so that four independent multiply-add chains overlap; from 2^18 steps in all,
groups of four rows are spread over XLA's intra-op threads (``ffi::ThreadPool``; the
calling thread and the helpers claim groups from a counter, so the call never waits on
a helper that has not started).  256 schedules x 24 000 steps (``benchmarks/bench.py``,
2 cores, medians over fresh processes): 21-22 ms with one row per pass and one thread,
8-23 ms (median 13 ms) with both, against 15-16 ms for a Python loop of one-row calls;
what is left is mostly the first touch of XLA's two fresh 49 MB outputs.

The effective-LR kernel (``lrlaw_efflr_at``, issue 16.5) returns the terms of
:mod:`lrlaw.laws.efflr` at sorted steps, ``S(t) = sum_{i=1..t} u_i`` and the noise
floor ``nu_t = a_t nu_{t-1} + (1 - a_t) u_t`` (``u = (eta/eta_ref)^r``, ``a =
exp(-kappa u^q)``), and on request their derivatives in ``r`` and ``kappa`` from the
tangent recurrences in the same pass.  It reads ``log(eta/eta_ref)``, computed once per
fit (a ``log`` per step and call cost twice the two ``exp``), and computes the powers
and exponentials once per run of equal LRs, so a constant stretch costs no ``exp``.
Under ``jax.vmap`` (``vmap_method="expand_dims"``) one call gets every row; an
unbatched schedule is not copied per row, and from 2^16 steps in all the rows are
spread over XLA's intra-op threads as the areas' are.  A Levenberg-Marquardt iteration
of the law on a 50k-step run spent ~1.8 ms per curve and row in the scan's terms and
Jacobian.  With the rows over two threads, the efflr fit of the three MPL 100M curves
(``benchmarks/bench_efflr.py --quick``, 8 starts) went from 0.71-0.72 s to 0.45-0.48 s
warm, the same objective to every printed digit.

Building: the C++ source below is compiled with the system C++ compiler
(``$CXX``, else ``c++``/``g++``/``clang++``) against the XLA FFI headers that
ship with jaxlib (``jax.ffi.include_dir()``), into
``$XDG_CACHE_HOME/lrlaw/native-<hash>/`` (``~/.cache`` by default; the hash
covers the source, jaxlib's version and the compiler), written atomically.
If there is no compiler, the build fails, or ``LRLAW_NO_NATIVE=1`` is set,
:func:`available` returns ``False`` and lrlaw uses the ``lax.scan`` kernel.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

TARGET = "lrlaw_areas"
TARGET_AT = "lrlaw_areas_at"
TARGET_EFFLR = "lrlaw_efflr_at"

SOURCE = r"""
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include "xla/ffi/api/ffi.h"
#ifdef __linux__
#include <sys/mman.h>
#endif

namespace {
constexpr int64_t kBlock = 256;

// Ask the kernel for transparent huge pages on an output buffer of 4 MiB or more before
// its first write, as numpy does for its own large arrays (numpy/core/src/multiarray/
// alloc.c).  XLA allocates the outputs afresh on every call; above glibc's mmap threshold
// they are fresh mappings, and faulting them in 4 KiB pages costs more than the loop.
// A hint only: the contents are untouched, and a kernel without THP ignores it.
void AdviseHuge(double* p, int64_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const uintptr_t bytes = static_cast<uintptr_t>(n) * sizeof(double);
  if (p == nullptr || bytes < (uintptr_t{1} << 22)) return;
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  const uintptr_t start = (a + 4095) & ~uintptr_t{4095};
  if (start < a + bytes) madvise(reinterpret_cast<void*>(start), a + bytes - start, MADV_HUGEPAGE);
#else
  (void)p;
  (void)n;
#endif
}

// The first step whose LR is below the one before (T if none), where warmup="ignore"
// starts counting LR increases; 0 (count every change) when ``ignore`` is false.
int64_t FirstDrop(const double* e, int64_t T, bool ignore) {
  if (!ignore) return 0;
  double p = 0.0;
  for (int64_t i = 0; i < T; ++i) {
    if (p - e[i] > 0) return i;
    p = e[i];
  }
  return T;
}

// L schedules at once (rows of a batch, stride T; L = 1: one schedule): S1, S2, m (null
// pointers are not written).  ``ignore``: drop the LR increases before the first drop
// (warmup="ignore").  Each lane runs one row's operations in that row's order, so a row
// gets the same bits whatever L; with L > 1 the lanes' independent multiply-add chains
// overlap in the CPU, where one row alone waits on the latency of ``m = lam m + d``.
constexpr int kLanes = 4;

template <int L, bool O1, bool O2, bool OM>
void Row(const double* e, int64_t T, const double* lam, bool ignore, double* s1, double* s2,
         double* om) {
  if (T == 0) return;
  int64_t t0[L];
  double prev[L], m[L], b1[L], r1[L], b2[L], r2[L];
  for (int k = 0; k < L; ++k) {
    t0[k] = FirstDrop(e + k * T, T, ignore);
    prev[k] = m[k] = b1[k] = b2[k] = r2[k] = 0.0;
    r1[k] = -e[k * T];
  }
  for (int64_t i0 = 0; i0 < T; i0 += kBlock) {
    const int64_t i1 = i0 + kBlock < T ? i0 + kBlock : T;
    for (int64_t i = i0; i < i1; ++i) {
#pragma GCC unroll 4
      for (int k = 0; k < L; ++k) {
        const double eta = e[k * T + i];
        double d = prev[k] - eta;
        if (i < t0[k] && d < 0) d = 0.0;
        prev[k] = eta;
        m[k] = lam[k] * m[k] + d;
        r1[k] += eta;
        r2[k] += m[k];
        if (O1) s1[k * T + i] = b1[k] + r1[k];
        if (O2) s2[k * T + i] = b2[k] + r2[k];
        if (OM) om[k * T + i] = m[k];
      }
    }
    for (int k = 0; k < L; ++k) {
      b1[k] += r1[k]; r1[k] = 0.0;
      b2[k] += r2[k]; r2[k] = 0.0;
    }
  }
}

// S1 and S2 at the steps idx[0] <= idx[1] <= ... (each in [0, T)), without per-step output;
// the same operations in the same order as Row, so the values are identical.
void RowAt(const double* e, int64_t T, double lam, bool ignore, const int64_t* idx, int64_t K,
           double* s1, double* s2) {
  if (T == 0) return;
  const int64_t t0 = FirstDrop(e, T, ignore);
  double prev = 0.0, m = 0.0, b1 = 0.0, r1 = -e[0], b2 = 0.0, r2 = 0.0;
  double a1 = 0.0, a2 = 0.0;  // the areas at step i - 1
  int64_t i = 0;
  for (int64_t j = 0; j < K; ++j) {
    const int64_t stop = idx[j];
    for (; i <= stop; ++i) {
      const double eta = e[i];
      double d = prev - eta;
      if (i < t0 && d < 0) d = 0.0;
      prev = eta;
      m = lam * m + d;
      r1 += eta;
      r2 += m;
      a1 = b1 + r1;
      a2 = b2 + r2;
      if ((i & (kBlock - 1)) == kBlock - 1) {
        b1 += r1; r1 = 0.0;
        b2 += r2; r2 = 0.0;
      }
    }
    s1[j] = a1;
    s2[j] = a2;
  }
}

template <bool O1, bool O2, bool OM>
void Rows(const double* lr, const double* lam, int64_t nlam, int64_t rows, int64_t T,
          bool ignore, double* s1, double* s2, double* om) {
  int64_t r = 0;
  for (; r + kLanes <= rows; r += kLanes) {
    double lams[kLanes];
    for (int k = 0; k < kLanes; ++k) lams[k] = lam[nlam == 1 ? 0 : r + k];
    Row<kLanes, O1, O2, OM>(lr + r * T, T, lams, ignore, O1 ? s1 + r * T : nullptr,
                            O2 ? s2 + r * T : nullptr, OM ? om + r * T : nullptr);
  }
  for (; r < rows; ++r)
    Row<1, O1, O2, OM>(lr + r * T, T, lam + (nlam == 1 ? 0 : r), ignore,
                       O1 ? s1 + r * T : nullptr, O2 ? s2 + r * T : nullptr,
                       OM ? om + r * T : nullptr);
}
// The effective-LR law's terms (lrlaw.laws.efflr) at the steps idx[0] <= ... <= idx[K-1]:
//   u_t = (eta_t / eta_ref)^r (0 where eta_t <= 0),  w_t = u_t^q,  a_t = exp(-kappa w_t)
//   (1 where eta_t <= 0),  S(t) = sum_{i=1..t} u_i,  nu_0 = u_0,
//   nu_t = a_t nu_{t-1} + (1 - a_t) u_t,
// and, when ds is not null, dS/dr, dnu/dr and dnu/dkappa (dS/dkappa = 0): the tangent
// recurrences dnu_t = a_t dnu_{t-1} + da_t nu_{t-1} + db_t with b_t = (1 - a_t) u_t.
// The per-step quantities are computed once per run of equal LRs (a constant stretch
// costs no exp), the sums in two levels (blocks of kBlock steps).
// ``lx`` holds log(eta_t / eta_ref), -inf where eta_t <= 0 (computed once per fit: a log
// per step and call cost twice the two exponentials).
void EfflrRowAt(const double* lxs, int64_t T, double r, double kappa, double q,
                const int64_t* idx, int64_t K, double* os, double* onu, double* ods,
                double* odr, double* odk) {
  if (T == 0 || K == 0) return;
  const bool deriv = ods != nullptr;
  const bool half = q == 0.5;
  const double none = -std::numeric_limits<double>::infinity();
  double prev = 0.0, u = 0.0, lu = 0.0, a = 1.0, dar = 0.0, dak = 0.0;
  bool fresh = true;
  double b1 = 0.0, r1 = 0.0, c1 = 0.0, q1 = 0.0;  // S and dS/dr: finished blocks + this one
  double nu = 0.0, nr = 0.0, nk = 0.0;
  double s = 0.0, sr = 0.0;
  int64_t i = 0;
  for (int64_t j = 0; j < K; ++j) {
    const int64_t stop = idx[j];
    for (; i <= stop; ++i) {
      const double lx = lxs[i];
      if (fresh || !(lx == prev)) {
        fresh = false;
        prev = lx;
        if (lx > none) {
          u = std::exp(r * lx);
          lu = lx * u;
          const double w = half ? std::sqrt(u) : std::exp(q * r * lx);
          a = std::exp(-kappa * w);
          dar = -kappa * q * lx * w * a;
          dak = -w * a;
        } else {
          u = lu = dar = dak = 0.0;
          a = 1.0;
        }
      }
      if (i == 0) {
        nu = u;
        nr = lu;
        nk = 0.0;
        continue;
      }
      r1 += u;
      if (deriv) {
        q1 += lu;
        const double na = 1.0 - a;
        nr = a * nr + dar * nu + (na * lu - dar * u);
        nk = a * nk + dak * nu - dak * u;
      }
      nu = a * nu + (1.0 - a) * u;
      s = b1 + r1;
      sr = c1 + q1;
      if ((i & (kBlock - 1)) == kBlock - 1) {
        b1 += r1; r1 = 0.0;
        c1 += q1; q1 = 0.0;
      }
    }
    os[j] = s;
    onu[j] = nu;
    if (deriv) {
      ods[j] = sr;
      odr[j] = nr;
      odk[j] = nk;
    }
  }
}

// Row offsets of a broadcast operand: its leading dims are each 1 or the output's.
int64_t Offset(int64_t row, const int64_t* out_lead, const int64_t* in_lead, int64_t nlead,
               int64_t inner) {
  int64_t off = 0, stride = inner;
  for (int64_t d = nlead - 1; d >= 0; --d) {
    const int64_t k = row % out_lead[d];
    row /= out_lead[d];
    if (in_lead[d] != 1) off += k * stride;
    stride *= in_lead[d];
  }
  return off;
}
}  // namespace

extern "C" int lrlaw_areas_rows(const double* lr, const double* lam, int64_t nlam, int64_t rows,
                                int64_t T, int64_t ignore, double* s1, double* s2, double* om) {
  const int key = (s1 ? 4 : 0) | (s2 ? 2 : 0) | (om ? 1 : 0);
  switch (key) {
    case 1: Rows<false, false, true>(lr, lam, nlam, rows, T, ignore, s1, s2, om); break;
    case 2: Rows<false, true, false>(lr, lam, nlam, rows, T, ignore, s1, s2, om); break;
    case 3: Rows<false, true, true>(lr, lam, nlam, rows, T, ignore, s1, s2, om); break;
    case 4: Rows<true, false, false>(lr, lam, nlam, rows, T, ignore, s1, s2, om); break;
    case 5: Rows<true, false, true>(lr, lam, nlam, rows, T, ignore, s1, s2, om); break;
    case 6: Rows<true, true, false>(lr, lam, nlam, rows, T, ignore, s1, s2, om); break;
    case 7: Rows<true, true, true>(lr, lam, nlam, rows, T, ignore, s1, s2, om); break;
    default: break;
  }
  return 0;
}

extern "C" int lrlaw_areas_at_rows(const double* lr, const double* lam, int64_t nlam,
                                   const int64_t* idx, int64_t nidx, int64_t rows, int64_t T,
                                   int64_t K, int64_t ignore, double* s1, double* s2) {
  for (int64_t r = 0; r < rows; ++r)
    RowAt(lr + r * T, T, lam[nlam == 1 ? 0 : r], ignore, idx + (nidx == 1 ? 0 : r * K), K,
          s1 + r * K, s2 + r * K);
  return 0;
}

namespace ffi = xla::ffi;

static ffi::Error AreasAtImpl(ffi::Buffer<ffi::F64> lr, ffi::Buffer<ffi::F64> lam,
                              ffi::Buffer<ffi::S64> idx, int64_t ignore,
                              ffi::ResultBuffer<ffi::F64> s1, ffi::ResultBuffer<ffi::F64> s2) {
  auto dims = lr.dimensions();
  auto kdims = idx.dimensions();
  if (dims.size() == 0 || kdims.size() == 0)
    return ffi::Error::InvalidArgument("lrlaw_areas_at: lr and steps must be arrays");
  const int64_t T = dims.back(), K = kdims.back();
  const int64_t rows = T ? static_cast<int64_t>(lr.element_count()) / T : 0;
  const int64_t nlam = static_cast<int64_t>(lam.element_count());
  const int64_t nidx = K ? static_cast<int64_t>(idx.element_count()) / K : 0;
  if ((nlam != 1 && nlam != rows) || (nidx != 1 && nidx != rows))
    return ffi::Error::InvalidArgument("lrlaw_areas_at: one lam and step list per schedule");
  if (K == 0 || rows == 0) return ffi::Error::Success();
  lrlaw_areas_at_rows(lr.typed_data(), lam.typed_data(), nlam, idx.typed_data(), nidx, rows, T,
                      K, ignore, s1->typed_data(), s2->typed_data());
  return ffi::Error::Success();
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(LrlawAreasAt, AreasAtImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F64>>()
                                  .Arg<ffi::Buffer<ffi::F64>>()
                                  .Arg<ffi::Buffer<ffi::S64>>()
                                  .Attr<int64_t>("ignore")
                                  .Ret<ffi::Buffer<ffi::F64>>()
                                  .Ret<ffi::Buffer<ffi::F64>>());

// XLA's intra-op thread pool for FFI handlers (``ffi::ThreadPool``); a jaxlib whose
// headers lack it gets the build again with -DLRLAW_NO_THREADPOOL (one thread).
#ifndef LRLAW_NO_THREADPOOL
#define LRLAW_POOL_CTX .Ctx<ffi::ThreadPool>()
#define LRLAW_POOL_PARAM ffi::ThreadPool pool,
#define LRLAW_POOL_PTR (&pool)
#else
#define LRLAW_POOL_CTX
#define LRLAW_POOL_PARAM
#define LRLAW_POOL_PTR (static_cast<NoPool*>(nullptr))
#endif

// Work split over XLA's intra-op threads: ``groups`` independent pieces (a few rows of a
// batch each); the calling thread and up to num_threads() helpers claim pieces from a
// counter until none is left, and the call returns when every claimed piece is done.  A
// helper that starts late finds nothing to claim, so the call never waits on a thread
// that is busy elsewhere; without a pool (or with one thread) the caller does all of it.
// Each piece is computed by the same code as without threads, so the values are the same
// bits.  The state is shared with the helpers (a late one outlives the call).
struct Claims {
  std::function<void(int64_t)> piece;
  int64_t groups = 0;
  std::atomic<int64_t> next{0}, done{0};
  std::mutex mu;
  std::condition_variable cv;

  void Work() {
    for (;;) {
      const int64_t g = next.fetch_add(1);
      if (g >= groups) return;
      piece(g);
      if (done.fetch_add(1) + 1 == groups) {
        std::lock_guard<std::mutex> lock(mu);
        cv.notify_all();
      }
    }
  }
};

// ``piece(g)`` for g in [0, groups), over the pool's threads when ``threaded``.
template <typename Pool>
void ParallelFor(Pool* pool, int64_t groups, bool threaded, std::function<void(int64_t)> piece) {
  const int64_t helpers = threaded && groups > 1 && pool ? pool->num_threads() : 0;
  if (helpers <= 0) {
    for (int64_t g = 0; g < groups; ++g) piece(g);
    return;
  }
  auto claims = std::make_shared<Claims>();
  claims->piece = std::move(piece);
  claims->groups = groups;
  for (int64_t h = 0; h < helpers && h + 1 < groups; ++h)
    pool->Schedule([claims] { claims->Work(); });
  claims->Work();
  std::unique_lock<std::mutex> lock(claims->mu);
  claims->cv.wait(lock, [&] { return claims->done.load() == claims->groups; });
}

// Without ffi::ThreadPool (LRLAW_NO_THREADPOOL): a stand-in that has no threads.
struct NoPool {
  int64_t num_threads() const { return 0; }
  template <typename F>
  void Schedule(F&&) {}
};

// Below this many steps in all, one thread does the whole batch: areas, and the
// effective-LR terms (whose steps cost a few exponentials each).
constexpr int64_t kThreadMinSteps = int64_t{1} << 18;
constexpr int64_t kThreadMinStepsEfflr = int64_t{1} << 16;

static ffi::Error AreasImpl(LRLAW_POOL_PARAM ffi::Buffer<ffi::F64> lr,
                            ffi::Buffer<ffi::F64> lam, int64_t ignore,
                            ffi::ResultBuffer<ffi::F64> s1, ffi::ResultBuffer<ffi::F64> s2,
                            ffi::ResultBuffer<ffi::F64> om) {
  auto dims = lr.dimensions();
  if (dims.size() == 0) return ffi::Error::InvalidArgument("lrlaw_areas: lr must be an array");
  const int64_t T = dims.back();
  const int64_t rows = T ? static_cast<int64_t>(lr.element_count()) / T : 0;
  const int64_t nlam = static_cast<int64_t>(lam.element_count());
  if (nlam != 1 && nlam != rows)
    return ffi::Error::InvalidArgument("lrlaw_areas: one lam per schedule expected");
  double* p1 = s1->element_count() ? s1->typed_data() : nullptr;
  double* p2 = s2->element_count() ? s2->typed_data() : nullptr;
  double* pm = om->element_count() ? om->typed_data() : nullptr;
  AdviseHuge(p1, static_cast<int64_t>(s1->element_count()));
  AdviseHuge(p2, static_cast<int64_t>(s2->element_count()));
  AdviseHuge(pm, static_cast<int64_t>(om->element_count()));
  const int64_t groups = (rows + kLanes - 1) / kLanes;
  const double* plr = lr.typed_data();
  const double* plam = lam.typed_data();
  ParallelFor(LRLAW_POOL_PTR, groups, rows * T >= kThreadMinSteps, [=](int64_t g) {
    const int64_t r0 = g * kLanes, n = rows - r0 < kLanes ? rows - r0 : kLanes;
    lrlaw_areas_rows(plr + r0 * T, plam + (nlam == 1 ? 0 : r0), nlam == 1 ? 1 : n, n, T, ignore,
                     p1 ? p1 + r0 * T : nullptr, p2 ? p2 + r0 * T : nullptr,
                     pm ? pm + r0 * T : nullptr);
  });
  return ffi::Error::Success();
}

static ffi::Error EfflrAtImpl(LRLAW_POOL_PARAM ffi::Buffer<ffi::F64> lr, ffi::Buffer<ffi::F64> r,
                              ffi::Buffer<ffi::F64> kappa, ffi::Buffer<ffi::S64> idx, double q,
                              int64_t deriv, ffi::ResultBuffer<ffi::F64> s,
                              ffi::ResultBuffer<ffi::F64> nu, ffi::ResultBuffer<ffi::F64> ds,
                              ffi::ResultBuffer<ffi::F64> dr, ffi::ResultBuffer<ffi::F64> dk) {
  // vmap_method="expand_dims": an unbatched operand has leading dims of size 1.  The
  // outputs have the batch dims and K; lr (the log LRs, EfflrRowAt) has (batch..., T),
  // r and kappa (batch...), idx (batch..., K).
  auto od = s->dimensions();
  auto ld = lr.dimensions();
  auto rd = r.dimensions();
  auto kd = kappa.dimensions();
  auto id = idx.dimensions();
  if (od.size() == 0 || ld.size() != od.size() || id.size() != od.size() ||
      rd.size() + 1 != od.size() || kd.size() + 1 != od.size())
    return ffi::Error::InvalidArgument("lrlaw_efflr_at: operands of mismatched rank");
  const int64_t nlead = static_cast<int64_t>(od.size()) - 1;
  const int64_t T = ld.back(), K = od.back();
  if (id.back() != K) return ffi::Error::InvalidArgument("lrlaw_efflr_at: steps and outputs");
  int64_t out_lead[8], l_lead[8], r_lead[8], k_lead[8], i_lead[8];
  if (nlead > 8) return ffi::Error::InvalidArgument("lrlaw_efflr_at: too many batch dims");
  int64_t rows = 1;
  for (int64_t d = 0; d < nlead; ++d) {
    out_lead[d] = od[d];
    l_lead[d] = ld[d];
    r_lead[d] = rd[d];
    k_lead[d] = kd[d];
    i_lead[d] = id[d];
    for (int64_t x : {l_lead[d], r_lead[d], k_lead[d], i_lead[d]})
      if (x != 1 && x != od[d])
        return ffi::Error::InvalidArgument("lrlaw_efflr_at: operands do not broadcast");
    rows *= od[d];
  }
  const bool want = deriv != 0;
  const double *plr = lr.typed_data(), *pr = r.typed_data(), *pk = kappa.typed_data();
  const int64_t* pi = idx.typed_data();
  double *ps = s->typed_data(), *pn = nu->typed_data();
  double *pds = want ? ds->typed_data() : nullptr, *pdr = want ? dr->typed_data() : nullptr;
  double* pdk = want ? dk->typed_data() : nullptr;
  // one row per piece (out_lead etc. are copied into the closure)
  ParallelFor(LRLAW_POOL_PTR, rows, rows * T >= kThreadMinStepsEfflr, [=](int64_t row) {
    const int64_t o = row * K;
    EfflrRowAt(plr + Offset(row, out_lead, l_lead, nlead, T), T,
               pr[Offset(row, out_lead, r_lead, nlead, 1)],
               pk[Offset(row, out_lead, k_lead, nlead, 1)], q,
               pi + Offset(row, out_lead, i_lead, nlead, K), K, ps + o, pn + o,
               want ? pds + o : nullptr, want ? pdr + o : nullptr, want ? pdk + o : nullptr);
  });
  return ffi::Error::Success();
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(LrlawEfflrAt, EfflrAtImpl,
                              ffi::Ffi::Bind()
                                  LRLAW_POOL_CTX
                                  .Arg<ffi::Buffer<ffi::F64>>()
                                  .Arg<ffi::Buffer<ffi::F64>>()
                                  .Arg<ffi::Buffer<ffi::F64>>()
                                  .Arg<ffi::Buffer<ffi::S64>>()
                                  .Attr<double>("q")
                                  .Attr<int64_t>("deriv")
                                  .Ret<ffi::Buffer<ffi::F64>>()
                                  .Ret<ffi::Buffer<ffi::F64>>()
                                  .Ret<ffi::Buffer<ffi::F64>>()
                                  .Ret<ffi::Buffer<ffi::F64>>()
                                  .Ret<ffi::Buffer<ffi::F64>>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(LrlawAreas, AreasImpl,
                              ffi::Ffi::Bind()
                                  LRLAW_POOL_CTX
                                  .Arg<ffi::Buffer<ffi::F64>>()
                                  .Arg<ffi::Buffer<ffi::F64>>()
                                  .Attr<int64_t>("ignore")
                                  .Ret<ffi::Buffer<ffi::F64>>()
                                  .Ret<ffi::Buffer<ffi::F64>>()
                                  .Ret<ffi::Buffer<ffi::F64>>());
"""

_state: dict[str, object] = {}


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _build_dir(cxx: str) -> Path:
    import jaxlib

    key = hashlib.sha256(f"{SOURCE}\0{jaxlib.__version__}\0{cxx}".encode()).hexdigest()[:16]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lrlaw" / f"native-{key}"


def _build(cxx: str, out: Path) -> None:
    """Compile :data:`SOURCE` to ``out`` (atomically: a temporary file, then ``os.replace``)."""
    import jax

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".build-") as tmp:
        src = Path(tmp) / "areas.cc"
        src.write_text(SOURCE)
        lib = Path(tmp) / "libareas.so"
        cmd = [cxx, "-O2", "-std=c++17", "-shared", "-fPIC", "-w"]
        cmd += [f"-I{jax.ffi.include_dir()}", str(src), "-o", str(lib)]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=300)
        except subprocess.CalledProcessError:  # e.g. FFI headers without ffi::ThreadPool
            cmd.append("-DLRLAW_NO_THREADPOOL")
            subprocess.run(cmd, check=True, capture_output=True, timeout=300)
        os.replace(lib, out)


def library() -> ctypes.CDLL | None:
    """The loaded kernel library (built on first use), or ``None`` where it is unavailable."""
    if "lib" in _state:
        return _state["lib"]  # type: ignore[return-value]
    lib = None
    if os.environ.get("LRLAW_NO_NATIVE", "").strip() in ("", "0"):
        try:
            cxx = _compiler()
            if cxx is not None:
                path = _build_dir(cxx) / "libareas.so"
                if not path.exists():
                    _build(cxx, path)
                lib = ctypes.cdll.LoadLibrary(str(path))
                import jax

                jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(lib.LrlawAreas), "cpu")
                capsule = jax.ffi.pycapsule(lib.LrlawAreasAt)
                jax.ffi.register_ffi_target(TARGET_AT, capsule, "cpu")
                capsule = jax.ffi.pycapsule(lib.LrlawEfflrAt)
                jax.ffi.register_ffi_target(TARGET_EFFLR, capsule, "cpu")
                ptr, i64 = ctypes.c_void_p, ctypes.c_int64
                f = lib.lrlaw_areas_rows
                f.restype = ctypes.c_int
                f.argtypes = [ptr, ptr, i64, i64, i64, i64, ptr, ptr, ptr]
                g = lib.lrlaw_areas_at_rows
                g.restype = ctypes.c_int
                g.argtypes = [ptr, ptr, i64, ptr, i64, i64, i64, i64, i64, ptr, ptr]
        except Exception as exc:  # no compiler, no headers, a failed build: use the scan
            _state["error"] = f"{type(exc).__name__}: {exc}"
            lib = None
    _state["lib"] = lib
    return lib


def built() -> bool:
    """Whether the kernel can be had without compiling: already loaded, or its library is
    in the cache (then it is loaded now).  ``LRLAW_NO_NATIVE=1`` gives ``False``."""
    if "lib" in _state:
        return _state["lib"] is not None
    if os.environ.get("LRLAW_NO_NATIVE", "").strip() not in ("", "0"):
        return False
    try:
        cxx = _compiler()
        if cxx is None or not (_build_dir(cxx) / "libareas.so").exists():
            return False
    except Exception:
        return False
    return available()


def enabled() -> bool:
    """Whether the kernels may be used here (``LRLAW_NO_NATIVE`` unset and a C++ compiler
    found), without building or loading them: part of the key of saved solvers
    (:mod:`lrlaw._jaxexport`), since a traced solver may call them."""
    if "lib" in _state and _state["lib"] is not None:
        return True
    if os.environ.get("LRLAW_NO_NATIVE", "").strip() not in ("", "0"):
        return False
    return _compiler() is not None


def available() -> bool:
    """Whether the native kernel is built and registered (``LRLAW_NO_NATIVE=1`` turns it off)."""
    return library() is not None


def _aligned_empty(n: int) -> np.ndarray:
    """An uninitialised float64 array of ``n`` values starting on a 64-byte boundary, so
    that ``jax.dlpack.from_dlpack`` can wrap it without a copy."""
    raw = np.empty(n + 8, dtype=np.float64)
    skip = (-raw.ctypes.data % 64) // 8
    return raw[skip : skip + n]


def areas_numpy(
    lr: np.ndarray, lam: float, ignore: bool, outputs: tuple[str, ...]
) -> tuple[np.ndarray, ...]:
    """The kernel on a 1-D float64 numpy array, called directly (no XLA): the named
    ``outputs`` among ``"s1"``, ``"s2"``, ``"m"`` (64-byte aligned arrays).
    Requires :func:`available`."""
    lib = library()
    if lib is None:
        raise RuntimeError("the native areas kernel is unavailable")
    x = lr if lr.dtype == np.float64 and lr.flags.c_contiguous else np.ascontiguousarray(lr, "d")
    n = x.size
    # one allocation for the outputs and lam (an eager call at 1e4 steps is ~25 us, and
    # each further array ~1-2 us of it): output i starts at ``skip + i * stride``, on a
    # 64-byte boundary, lam is the last value
    stride = -(-n // 8) * 8
    raw = np.empty(stride * len(outputs) + 9)
    base = raw.ctypes.data
    skip = (-base % 64) // 8
    raw[-1] = lam
    ptr = {k: base + 8 * (skip + i * stride) for i, k in enumerate(outputs)}
    lib.lrlaw_areas_rows(
        x.ctypes.data, base + 8 * (raw.size - 1), 1, 1, n, int(ignore),
        ptr.get("s1"), ptr.get("s2"), ptr.get("m"),
    )  # fmt: skip
    return tuple(raw[skip + i * stride : skip + i * stride + n] for i in range(len(outputs)))


def areas_at_numpy(
    lr: np.ndarray, lam: float, ignore: bool, steps: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(S1, S2)`` at the non-decreasing ``steps`` (each in ``[0, lr.shape[-1])``) of a
    1-D float64 numpy array, or of every row of a 2-D one (results ``(rows, K)``), called
    directly (no XLA, no copy of a C-contiguous float64 input).  Requires :func:`available`."""
    lib = library()
    if lib is None:
        raise RuntimeError("the native areas kernel is unavailable")
    x = np.ascontiguousarray(lr, dtype=np.float64)
    idx = np.ascontiguousarray(steps, dtype=np.int64)
    lam_arr = np.asarray([lam], dtype=np.float64)
    shape = (*x.shape[:-1], idx.size)
    s1, s2 = np.empty(shape), np.empty(shape)
    rows = int(np.prod(x.shape[:-1], dtype=np.int64))
    if x.shape[-1] and idx.size and rows:
        lib.lrlaw_areas_at_rows(
            x.ctypes.data,
            lam_arr.ctypes.data,
            1,
            idx.ctypes.data,
            1,
            rows,
            x.shape[-1],
            idx.size,
            int(ignore),
            s1.ctypes.data,
            s2.ctypes.data,
        )
    return s1, s2
