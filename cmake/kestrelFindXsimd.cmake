# Finds xsimd and makes its imported target usable.
# Debian 12's xsimd 8.1 target lists "xtl" in INTERFACE_LINK_LIBRARIES without finding it,
# so linking fails with "cannot find -lxtl" unless libxtl-dev is installed. Kestrel does
# not use xsimd's xtl integration: when no xtl target exists, drop that entry.
find_package(xsimd REQUIRED)
if(TARGET xsimd AND NOT TARGET xtl)
  find_package(xtl QUIET)
  if(NOT TARGET xtl)
    get_target_property(_kestrel_xsimd_libs xsimd INTERFACE_LINK_LIBRARIES)
    if(_kestrel_xsimd_libs)
      list(REMOVE_ITEM _kestrel_xsimd_libs xtl)
      set_target_properties(xsimd PROPERTIES INTERFACE_LINK_LIBRARIES "${_kestrel_xsimd_libs}")
    endif()
    unset(_kestrel_xsimd_libs)
  endif()
endif()
