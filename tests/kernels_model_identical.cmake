# The mobile QAT model's logits with the best kernels equal the scalar reference kernels' bit for bit
# (every integer path is exact, and the float code around it is shared).
# Args: -DLOGITS=edgelm-logits -DMODEL=... -DIDS=ids.npy -DOUT=dir
foreach(variant scalar best)
  if(variant STREQUAL "scalar")
    set(ENV{EDGELM_KERNELS} scalar)
  else()
    unset(ENV{EDGELM_KERNELS})
  endif()
  execute_process(COMMAND ${LOGITS} ${MODEL} --ids-npy ${IDS} --out ${OUT}/logits-${variant}.npy --threads 1
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "edgelm-logits failed with ${variant} kernels")
  endif()
endforeach()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT}/logits-scalar.npy ${OUT}/logits-best.npy RESULT_VARIABLE same)
if(NOT same EQUAL 0)
  message(FATAL_ERROR "logits differ between the scalar and the selected kernels")
endif()
message(STATUS "logits identical with scalar and selected kernels")
