# mlx-coldstart platform layer: stands in for the CUDA toolkit while building mlx-c
# against the mlx-cuda-13 wheel. MLX's CMake package asks for the toolkit, but mlx-c
# only compiles against MLX's C++ headers and calls into libmlx.so; the CUDA
# libraries are loaded at run time, on the GPU machine, from the nvidia-* wheels.
set(CUDAToolkit_FOUND TRUE)
if(NOT TARGET CUDA::cuda_driver)
  add_library(CUDA::cuda_driver INTERFACE IMPORTED)
endif()
