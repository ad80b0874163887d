# Shared build settings for every cordon target.
set(CORDON_WARNINGS -Wall -Wextra -Werror -Wno-unused-parameter)
set(CORDON_GEN_DIR ${CMAKE_BINARY_DIR}/gen)
file(MAKE_DIRECTORY ${CORDON_GEN_DIR})

if(CORDON_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# cordon_library(NAME SOURCES ... DEPS ...)
function(cordon_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${CORDON_WARNINGS})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR} ${CORDON_GEN_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()

# cordon_test(NAME SOURCES ... DEPS ... [LABELS ...])
# Unit tests live beside the class they test (foo.h / foo.cc / foo_test.cc).
function(cordon_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${CORDON_WARNINGS})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR} ${CORDON_GEN_DIR})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "CORDON_BUILD_DIR=${CMAKE_BINARY_DIR};CORDON_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()

# cordon_proto(NAME IMPORT_ROOT DIR PROTOS ...): generates into ${CORDON_GEN_DIR}.
function(cordon_proto name)
  cmake_parse_arguments(ARG "" "IMPORT_ROOT" "PROTOS" ${ARGN})
  set(srcs)
  foreach(proto ${ARG_PROTOS})
    file(RELATIVE_PATH rel ${ARG_IMPORT_ROOT} ${proto})
    string(REGEX REPLACE "\\.proto$" "" stem ${rel})
    set(cc ${CORDON_GEN_DIR}/${stem}.pb.cc)
    set(h ${CORDON_GEN_DIR}/${stem}.pb.h)
    add_custom_command(
      OUTPUT ${cc} ${h}
      COMMAND protobuf::protoc --cpp_out=${CORDON_GEN_DIR} -I${ARG_IMPORT_ROOT} ${proto}
      DEPENDS ${proto} protobuf::protoc
      COMMENT "protoc ${rel}")
    list(APPEND srcs ${cc})
  endforeach()
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${CORDON_GEN_DIR})
  target_link_libraries(${name} PUBLIC protobuf::libprotobuf)
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()

# Debian's absl CMake package only names the shared objects; point each imported absl target
# at its static archive (same directory, libabsl_x.a) when one exists.
macro(cordon_prefer_static_absl)
  get_directory_property(_cordon_imported IMPORTED_TARGETS)
  foreach(_target ${_cordon_imported})
    if(_target MATCHES "^absl::")
      get_target_property(_location ${_target} IMPORTED_LOCATION_NONE)
      if(_location AND _location MATCHES "^(.*)/lib(absl_[a-z0-9_]+)\\.so")
        set(_static "${CMAKE_MATCH_1}/lib${CMAKE_MATCH_2}.a")
        if(EXISTS "${_static}")
          set_target_properties(${_target} PROPERTIES IMPORTED_LOCATION_NONE "${_static}")
        endif()
      endif()
    endif()
  endforeach()
endmacro()

# Points a pkg-config imported target at the static archive `archive` when it exists.
function(cordon_prefer_static_pkg target archive)
  find_library(_cordon_static_${archive} NAMES ${archive})
  if(_cordon_static_${archive})
    set_target_properties(${target} PROPERTIES INTERFACE_LINK_LIBRARIES
                                               "${_cordon_static_${archive}}")
  endif()
endfunction()
