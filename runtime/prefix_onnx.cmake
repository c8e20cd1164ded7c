# Run after protoc-c (cmake -P, with HEADER and SOURCE set to the generated onnx.pb-c.h and
# .c): gives every onnx__* identifier of the generated code the runtime's cnnrt_ prefix, by
# #defines at the top of the header (which the .c includes first), so that libcnnrt exports
# only cnnrt_* symbols and a program that embeds a model can use ONNX's own protobuf-c code
# next to it. The code that uses them keeps ONNX's names.
file(READ ${HEADER} header)
file(READ ${SOURCE} source)
string(REGEX MATCHALL "onnx__[a-z0-9_]+" names "${header}\n${source}")
list(REMOVE_DUPLICATES names)
list(SORT names)
set(defines "/* cnnrt_ prefix for every onnx__ symbol (runtime/prefix_onnx.cmake) */\n")
foreach(name IN LISTS names)
  string(APPEND defines "#define ${name} cnnrt_${name}\n")
endforeach()
set(guard "#define PROTOBUF_C_onnx_2eproto__INCLUDED\n")
string(FIND "${header}" "${guard}" at)
if(at LESS 0)
  message(FATAL_ERROR "${HEADER}: no include guard '${guard}' to put the cnnrt_ prefixes after")
endif()
string(REPLACE "${guard}" "${guard}\n${defines}" header "${header}")
file(WRITE ${HEADER} "${header}")
