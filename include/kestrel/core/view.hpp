// Non-owning views of user memory: a 1-D vector_view and a 2-D row-major matrix_view.
//
// Kernels take these instead of containers so that user memory is read and written where
// it lies, never copied. Element type T may be const-qualified (read-only view) or not
// (mutable view); a mutable view converts implicitly to a read-only one.
//
// Constructible from: (pointer, size) / (pointer, rows, cols[, row_stride]); std::vector;
// and Eigen dense objects (Matrix, Array, Map, Ref, Block) with unit inner stride. Eigen is
// recognised by its member functions, so this header does not include Eigen. A 1-D view of
// an Eigen object requires contiguous storage; a matrix_view requires row-major storage
// (use Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> or a Map of one).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "error.hpp"

namespace kestrel {

namespace detail {

template <class C, class = void>
struct is_eigen_dense : std::false_type {};
template <class C>
struct is_eigen_dense<C, std::void_t<decltype(std::declval<C&>().innerStride()),
                                     decltype(std::declval<C&>().outerStride()),
                                     decltype(std::declval<C&>().rows()),
                                     decltype(std::declval<C&>().cols()),
                                     decltype(std::declval<C&>().data()), decltype(C::IsRowMajor)>>
    : std::true_type {};

template <class C, class T, class = void>
struct data_convertible : std::false_type {};
template <class C, class T>
struct data_convertible<C, T, std::void_t<decltype(std::declval<C&>().data())>>
    : std::is_convertible<decltype(std::declval<C&>().data()), T*> {};

/// The largest element count a view of T may describe (its byte size must fit a ptrdiff_t).
template <class T>
inline constexpr std::size_t max_view_elements = std::size_t(PTRDIFF_MAX) / sizeof(T);

}  // namespace detail

/// A contiguous run of `size()` elements of type T, owned by someone else.
template <class T>
class vector_view {
public:
    using element_type = T;
    using value_type = std::remove_cv_t<T>;

    constexpr vector_view() noexcept = default;

    /// A view of p[0], ..., p[n-1]. Throws if p is null and n > 0, or if n elements cannot
    /// exist (n * sizeof(T) > PTRDIFF_MAX).
    vector_view(T* p, std::size_t n) : data_(p), size_(n) {
        require(n <= detail::max_view_elements<T>, "vector_view", "size", n, " elements of ", sizeof(T),
                " bytes exceed the address space");
        require_not_null(p, n, "vector_view", "data");
    }

    /// Read-only view from a mutable one.
    template <class U, std::enable_if_t<std::is_same_v<const U, T> && !std::is_same_v<U, T>, int> = 0>
    constexpr vector_view(vector_view<U> other) noexcept : data_(other.data()), size_(other.size()) {}

    /// From std::vector (const vectors give read-only views only).
    template <class A>
    vector_view(std::vector<value_type, A>& v) noexcept : data_(v.data()), size_(v.size()) {}
    template <class A, class U = T, std::enable_if_t<std::is_const_v<U>, int> = 0>
    vector_view(const std::vector<value_type, A>& v) noexcept : data_(v.data()), size_(v.size()) {}

    /// From an Eigen dense object with contiguous storage (vector, or matrix with no padding).
    template <class E, std::enable_if_t<detail::is_eigen_dense<std::remove_reference_t<E>>::value &&
                                            detail::data_convertible<std::remove_reference_t<E>, T>::value,
                                        int> = 0>
    vector_view(E&& e) : data_(e.data()), size_(static_cast<std::size_t>(e.rows() * e.cols())) {
        // Storage is contiguous when consecutive inner elements are adjacent and each outer
        // slice starts right after the previous one (dimensions of extent 1 impose nothing).
        const auto inner_size = std::remove_reference_t<E>::IsRowMajor ? e.cols() : e.rows();
        const auto outer_size = std::remove_reference_t<E>::IsRowMajor ? e.rows() : e.cols();
        const bool contiguous = (inner_size <= 1 || e.innerStride() == 1) &&
                                (outer_size <= 1 || e.outerStride() == (inner_size <= 1 ? 1 : inner_size));
        require(contiguous, "vector_view", "eigen object",
                "storage is not contiguous (inner stride ", e.innerStride(), ", outer stride ",
                e.outerStride(), ")");
    }

    constexpr T* data() const noexcept { return data_; }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr T& operator[](std::size_t i) const noexcept { return data_[i]; }
    constexpr T* begin() const noexcept { return data_; }
    constexpr T* end() const noexcept { return data_ + size_; }

    /// Elements [offset, offset + count). Throws if out of range.
    vector_view subview(std::size_t offset, std::size_t count) const {
        require(offset <= size_ && count <= size_ - offset, "vector_view::subview", "range",
                "[", offset, ", ", offset + count, ") exceeds size ", size_);
        vector_view v;
        v.data_ = data_ + offset;
        v.size_ = count;
        return v;
    }

private:
    T* data_ = nullptr;
    std::size_t size_ = 0;
};

template <class T>
using const_vector_view = vector_view<const T>;

/// rows x cols elements in row-major order; row r starts at data() + r * row_stride().
template <class T>
class matrix_view {
public:
    using element_type = T;
    using value_type = std::remove_cv_t<T>;

    constexpr matrix_view() noexcept = default;

    /// Dense row-major block: row_stride defaults to cols and must be >= cols.
    matrix_view(T* p, std::size_t rows, std::size_t cols) : matrix_view(p, rows, cols, cols) {}
    /// Throws if rows * cols or the extent (rows - 1) * row_stride + cols wraps or exceeds
    /// what a view can address, or if p is null for a non-empty matrix.
    matrix_view(T* p, std::size_t rows, std::size_t cols, std::size_t row_stride)
        : data_(p), rows_(rows), cols_(cols), stride_(row_stride) {
        require(row_stride >= cols || rows <= 1, "matrix_view", "row_stride", "row stride ",
                row_stride, " is smaller than cols (", cols, ")");
        const std::size_t count = checked_product(rows, cols, "matrix_view", "rows * cols");
        if (count != 0) {
            const std::size_t extent = checked_sum(
                checked_product(rows - 1, row_stride, "matrix_view", "row_stride * (rows - 1)"), cols, "matrix_view",
                "row_stride * (rows - 1) + cols");
            require(extent <= detail::max_view_elements<T>, "matrix_view", "rows * cols", "extent ", extent,
                    " elements exceeds the address space");
        }
        require_not_null(p, count, "matrix_view", "data");
    }

    /// A std::vector holding rows*cols elements, row-major.
    template <class A>
    matrix_view(std::vector<value_type, A>& v, std::size_t rows, std::size_t cols)
        : matrix_view(checked_vector_data(v.data(), v.size(), rows, cols), rows, cols) {}
    template <class A, class U = T, std::enable_if_t<std::is_const_v<U>, int> = 0>
    matrix_view(const std::vector<value_type, A>& v, std::size_t rows, std::size_t cols)
        : matrix_view(checked_vector_data(v.data(), v.size(), rows, cols), rows, cols) {}

    template <class U, std::enable_if_t<std::is_same_v<const U, T> && !std::is_same_v<U, T>, int> = 0>
    constexpr matrix_view(matrix_view<U> o) noexcept
        : data_(o.data()), rows_(o.rows()), cols_(o.cols()), stride_(o.row_stride()) {}

    /// From a row-major Eigen dense object with unit inner stride.
    template <class E, std::enable_if_t<detail::is_eigen_dense<std::remove_reference_t<E>>::value &&
                                            detail::data_convertible<std::remove_reference_t<E>, T>::value,
                                        int> = 0>
    matrix_view(E&& e)
        : data_(e.data()), rows_(static_cast<std::size_t>(e.rows())),
          cols_(static_cast<std::size_t>(e.cols())), stride_(static_cast<std::size_t>(e.outerStride())) {
        static_assert(std::remove_reference_t<E>::IsRowMajor || std::remove_reference_t<E>::ColsAtCompileTime == 1,
                      "kestrel::matrix_view needs row-major storage: use Eigen::Matrix<T, Eigen::Dynamic, "
                      "Eigen::Dynamic, Eigen::RowMajor> (or a Map/Ref of one)");
        if constexpr (!std::remove_reference_t<E>::IsRowMajor) {
            stride_ = 1;  // a column vector: one element per row
            require(e.innerStride() == 1, "matrix_view", "eigen object", "inner stride ",
                    e.innerStride(), " is not 1");
        } else {
            require(e.innerStride() == 1, "matrix_view", "eigen object", "inner stride ",
                    e.innerStride(), " is not 1");
        }
    }

    constexpr T* data() const noexcept { return data_; }
    constexpr std::size_t rows() const noexcept { return rows_; }
    constexpr std::size_t cols() const noexcept { return cols_; }
    constexpr std::size_t row_stride() const noexcept { return stride_; }
    constexpr bool empty() const noexcept { return rows_ == 0 || cols_ == 0; }
    constexpr bool contiguous() const noexcept { return stride_ == cols_ || rows_ <= 1; }
    constexpr T& operator()(std::size_t r, std::size_t c) const noexcept { return data_[r * stride_ + c]; }
    constexpr T* row_data(std::size_t r) const noexcept { return data_ + r * stride_; }

    /// Row r as a 1-D view (unchecked index, like operator()).
    vector_view<T> row(std::size_t r) const noexcept {
        return rows_ ? vector_view<T>(data_ + r * stride_, cols_) : vector_view<T>();
    }

    /// All elements as one 1-D view; only for contiguous matrices (throws otherwise).
    vector_view<T> flat() const {
        require(contiguous(), "matrix_view::flat", "matrix", "row stride ", stride_,
                " != cols ", cols_, ": not contiguous");
        return vector_view<T>(data_, rows_ * cols_);
    }

private:
    // The vector's data once its size is checked against rows * cols (checked before the
    // delegated constructor runs, so a wrapping product is reported as such).
    static T* checked_vector_data(T* p, std::size_t size, std::size_t rows, std::size_t cols) {
        require_size(size, checked_product(rows, cols, "matrix_view", "rows * cols"), "matrix_view", "vector",
                     "rows * cols");
        return p;
    }

    T* data_ = nullptr;
    std::size_t rows_ = 0, cols_ = 0, stride_ = 0;
};

template <class T>
using const_matrix_view = matrix_view<const T>;

/// True if the two views share at least one element's bytes (empty views overlap nothing).
/// Kernels use it to refuse arguments that must not alias.
template <class A, class B>
bool views_overlap(vector_view<A> a, vector_view<B> b) noexcept {
    if (a.empty() || b.empty()) return false;
    const auto pa = reinterpret_cast<std::uintptr_t>(a.data()), pb = reinterpret_cast<std::uintptr_t>(b.data());
    return pa < pb + b.size() * sizeof(B) && pb < pa + a.size() * sizeof(A);
}

/// True if the views overlap without being the same elements (same start and size): the
/// aliasing that elementwise kernels allowing "out may be an input" still refuse.
template <class A, class B>
bool views_overlap_partially(vector_view<A> a, vector_view<B> b) noexcept {
    if (static_cast<const void*>(a.data()) == static_cast<const void*>(b.data()) &&
        a.size() * sizeof(A) == b.size() * sizeof(B))
        return false;
    return views_overlap(a, b);
}

/// Convenience factories: deduce T from a pointer.
template <class T>
vector_view<T> make_view(T* p, std::size_t n) { return vector_view<T>(p, n); }
template <class T, class A>
vector_view<T> make_view(std::vector<T, A>& v) { return vector_view<T>(v); }
template <class T, class A>
vector_view<const T> make_view(const std::vector<T, A>& v) { return vector_view<const T>(v); }

}  // namespace kestrel
