# mlx-coldstart platform layer: stands in for cuDNN while building mlx-c against the
# mlx-cuda-13 wheel (see CUDAToolkitConfig.cmake beside this file).
set(CUDNN_FOUND TRUE)
