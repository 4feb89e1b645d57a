// Kestrel core: configuration, errors, views, SIMD loops, parallel loops, counter-based RNG.
#pragma once

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/random.hpp"
#include "core/simd.hpp"
#include "core/view.hpp"
