/*
 * mlx-coldstart platform layer: compatibility header force-included (-include) into
 * every mlx-c translation unit and into bindgen's parse of mlx-c's C headers.
 *
 * It closes the gaps that keep mlx-c 0.7.0 from building on Linux x86_64 with gcc 12:
 *  1. libstdc++ 12 has no std::format; mlx-c calls it only to build error messages.
 *  2. mlx/c/half.h declares float16_t/bfloat16_t (and so the four
 *     mlx_array_{item,data}_{float16,bfloat16} functions that mlx-rs calls) only on
 *     ARM. MLX itself has portable half types; we expose them under the same names.
 *  3. MLX 0.32.4 gave mlx::core::gather_qmm a `global_scale` parameter before
 *     `sorted_indices`; mlx-c 0.7.0, written for MLX 0.32.2, passes sorted_indices
 *     in its place. The 0.32.2 signature, forwarding with no global scale, restores
 *     the call (it is the only mlx-c source line 0.32.4 breaks).
 */
#ifndef COLDSTART_COMPAT_H
#define COLDSTART_COMPAT_H

#if defined(__cplusplus)

#include <version>
#if !defined(__cpp_lib_format)
#include <sstream>
#include <string>
#include <string_view>

namespace coldstart_compat {
inline void format_into(std::ostringstream& out, std::string_view fmt) {
  out << fmt;
}
/* Replaces each "{}" in order; mlx-c's messages use no other replacement field. */
template <typename T, typename... Rest>
void format_into(std::ostringstream& out, std::string_view fmt, const T& value,
                 const Rest&... rest) {
  const std::size_t at = fmt.find("{}");
  if (at == std::string_view::npos) {
    out << fmt;
    return;
  }
  out << fmt.substr(0, at) << value;
  format_into(out, fmt.substr(at + 2), rest...);
}
} /* namespace coldstart_compat */

namespace std {
template <typename... Args>
std::string format(std::string_view fmt, const Args&... args) {
  std::ostringstream out;
  coldstart_compat::format_into(out, fmt, args...);
  return out.str();
}
} /* namespace std */
#endif /* !__cpp_lib_format */

/* (3) Only where MLX's headers are on the include path (not in CMake's compiler
 * check) and only for the MLX that changed the signature: 0.32.2 declares this one. */
#if __has_include("mlx/version.h")
#include "mlx/version.h"
#if MLX_VERSION_NUMERIC >= 32004
#include <optional>
#include <string>
#include <utility>
#include "mlx/ops.h"
namespace mlx::core {
inline array gather_qmm(const array& x, const array& w, const array& scales,
                        const std::optional<array>& biases,
                        std::optional<array> lhs_indices,
                        std::optional<array> rhs_indices, bool transpose,
                        std::optional<int> group_size, std::optional<int> bits,
                        const std::string& mode, bool sorted_indices,
                        StreamOrDevice s) {
  return gather_qmm(x, w, scales, biases, std::move(lhs_indices),
                    std::move(rhs_indices), transpose, group_size, bits, mode,
                    std::nullopt, sorted_indices, s);
}
} /* namespace mlx::core */
#endif
#endif

#endif /* __cplusplus */

#if !defined(__aarch64__) && !defined(__ARM_FEATURE_FP16_SCALAR_ARITHMETIC)
#if defined(__cplusplus)
/* mlx-c's C++ side hands MLX's own half types through the C API by pointer.
 * (CMake's compiler check compiles without MLX's include path: skip it there.) */
#if __has_include("mlx/types/half_types.h")
#include "mlx/types/half_types.h"
typedef mlx::core::float16_t float16_t;
typedef mlx::core::bfloat16_t bfloat16_t;
#define HAS_FLOAT16
#define HAS_BFLOAT16
#endif
#else
/* For bindgen: _Float16 becomes __BindgenFloat16 and __bf16 becomes u16, the
 * same Rust types bindgen emits for __fp16/__bf16 on aarch64, which mlx-rs expects. */
typedef _Float16 float16_t;
typedef __bf16 bfloat16_t;
#define HAS_FLOAT16
#define HAS_BFLOAT16
#endif
#endif

#endif /* COLDSTART_COMPAT_H */
