/*
 * mlx-coldstart platform layer: mlx-rs seeds its random key from macOS's
 * mach_approximate_time() (through the mach-sys crate). Linux has no such symbol;
 * this provides it as a monotonic clock in nanoseconds, which is what mlx-rs needs
 * (a varying seed), not a claim of Mach's time base.
 */
#include <stdint.h>
#include <time.h>

uint64_t mach_approximate_time(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}
