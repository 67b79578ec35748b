/* The passes over the weight pool that training makes every step, on all of
 * torch's threads: the soft mask's forward and backward, and the bin counting
 * behind the threshold and the density.
 *
 * mask_forward(weight, offset, scale, out, threads[, point, inverse_bandwidth,
 * reflect]) writes out = w * m, m = sigmoid(w^2 * scale + offset) (scale =
 * 1/tau, offset = -t^2/tau): one pass, reading w and writing w m; given a
 * bandwidth it also sums the Gaussian kernel of the magnitudes at `point` (the
 * density at the threshold, which dt/dr needs) in that pass.
 *
 * window(samples, low, high, out, threads) counts the magnitudes below, in
 * and above [low, high), gathers those inside and sums the pool's moments:
 * the threshold's one pass over a pool (threshold.py). kde_sum(samples,
 * point, inverse_bandwidth, reflect, threads) is the kernel sum on its own.
 *
 * mask_backward(grad, weight, offset, scale, full, grad_weight, threads[,
 * masked]) recomputes m from w and, in the same pass, writes dL/dw (m g,
 * plus 2 scale w^2 m (1 - m) g when `full`) and returns the sums of
 * s = w g m (1 - m) and of s times the logit, from which dL/dt and dL/dtau
 * follow (mask.py). Given the forward pass's w m (`masked`, which may be
 * grad_weight itself), m is taken as (w m) / w instead of a second sigmoid.
 * Sums are taken in float64 over fixed blocks of the pool and the blocks
 * added in order, so the result does not depend on the number of threads.
 *
 * stacked_select, stacked_mask_forward and stacked_mask_backward make the
 * small pool's passes (threshold.py's compiled small-pool route, mask.py's
 * forward and backward) for chosen rows of a (K, n) stack of pools, one
 * model's weights a row, the rows in parallel and each row on one thread:
 * the same calls, so the same results, as those passes make on the row
 * alone.
 *
 * count_bins(samples, inverse_spacing, index, counts, threads) writes the bin
 * trunc(|x| * inverse_spacing) of every float32 sample into the int16 buffer
 * `index` and the number of samples in each bin into the int64 buffer
 * `counts`: what numpy's multiply-and-truncate and torch.bincount compute in
 * density.py, bit for bit, in one pass and in parallel. The product is
 * taken in float32, as numpy takes it, and |x| * s equals |x * s| exactly.
 * A sample past the last bin (only NaN or infinity can be) counts in the last.
 *
 * Each kernel works in float32 or float64, as the buffers hold. The
 * exponential of the sigmoid is a polynomial the compiler vectorises (within
 * 2 ulp of the float32 or float64 result), where a call of libm's would not
 * be; on x86-64 with GCC the loops are compiled for AVX-512, AVX2 and the
 * baseline, and the processor picks at load time.
 *
 * OpenMP is the runtime torch's CPU build already loaded, so these threads
 * are torch's own: a second pool of threads would compete with torch's for
 * the cores.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Interleaved private histograms per thread: neighbouring samples often fall
 * in the same bin, and separate counters keep their increments independent. */
#define LANES 4

/* trunc(|x| * inverse_spacing), or the last bin for anything past it. */
static inline Py_ssize_t bin_of(float x, float inverse_spacing, Py_ssize_t bins)
{
    float position = fabsf(x) * inverse_spacing;
    return position < (float)bins ? (Py_ssize_t)position : bins - 1;
}

static int count_bins_parallel(const float *samples, Py_ssize_t n, float inverse_spacing,
                               int16_t *index, int64_t *counts, Py_ssize_t bins,
                               int threads)
{
    int failed = 0;
    memset(counts, 0, (size_t)bins * sizeof(int64_t));
#pragma omp parallel num_threads(threads)
    {
        int thread = 0, team = 1;
#ifdef _OPENMP
        thread = omp_get_thread_num();
        team = omp_get_num_threads();
#endif
        /* n < 2^32 (checked), so the products fit in 64 bits. */
        Py_ssize_t start = (Py_ssize_t)((int64_t)n * thread / team);
        Py_ssize_t stop = (Py_ssize_t)((int64_t)n * (thread + 1) / team);
        uint32_t *local = calloc((size_t)(LANES * bins), sizeof(uint32_t));
        if (local == NULL) {
#pragma omp atomic write
            failed = 1;
        } else {
            Py_ssize_t i = start;
            for (; i + LANES <= stop; i += LANES) {
                for (int lane = 0; lane < LANES; lane++) {
                    Py_ssize_t bin = bin_of(samples[i + lane], inverse_spacing, bins);
                    index[i + lane] = (int16_t)bin;
                    local[lane * bins + bin]++;
                }
            }
            for (; i < stop; i++) {
                Py_ssize_t bin = bin_of(samples[i], inverse_spacing, bins);
                index[i] = (int16_t)bin;
                local[bin]++;
            }
#pragma omp critical
            for (Py_ssize_t bin = 0; bin < bins; bin++) {
                int64_t total = 0;
                for (int lane = 0; lane < LANES; lane++) total += local[lane * bins + bin];
                counts[bin] += total;
            }
            free(local);
        }
    }
    return failed ? -1 : 0;
}

/* The loops of the mask are compiled once per instruction set where the
 * compiler and the C library can pick at load time (GCC on x86-64 Linux). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define VECTOR_CLONES \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VECTOR_CLONES
#endif

/* Weights per block of the mask's sums: a fixed block, so that the partial
 * sums, and the order they are added in, do not depend on the threads. */
#define BLOCK 8192

/* exp(x) by range reduction to [-ln2/2, ln2/2] and a polynomial (Cephes'
 * for float32, Taylor to degree 13 for float64), 2^n built in the exponent
 * bits: plain arithmetic the compiler vectorises. x is clamped to where
 * 2^n is a normal number (the sigmoid is 0 or 1 to working precision well
 * before); NaN passes through. */
static inline float exp_f32(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    const float shift = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float n = x * 1.44269504088896341f + shift;
    uint32_t bits;
    memcpy(&bits, &n, sizeof bits);
    n -= shift;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t power_bits = (bits << 23) + (127u << 23);
    float power;
    memcpy(&power, &power_bits, sizeof power);
    return p * power;
}

static inline double exp_f64(double x)
{
    x = x < -708.0 ? -708.0 : x;
    x = x > 709.0 ? 709.0 : x;
    const double shift = 6755399441055744.0; /* 1.5 * 2^52 */
    double n = x * 1.4426950408889634 + shift;
    uint64_t bits;
    memcpy(&bits, &n, sizeof bits);
    n -= shift;
    double r = x - n * 6.93147180369123816490e-01; /* ln 2, high bits: exact */
    r = r - n * 1.90821492927058770002e-10;        /* and the rest */
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r * r + r + 1.0;
    uint64_t power_bits = (bits << 52) + (1023ull << 52);
    double power;
    memcpy(&power, &power_bits, sizeof power);
    return p * power;
}

/* v, or 0 where v is subnormal: a mask far below the threshold is 0, not
 * the subnormal 1 / (1 + e^88) the clamped exponential gives, and no product
 * is left subnormal. Subnormal weights would slow every matrix product and
 * Adam step that reads them many times over (once tau is small, as it
 * becomes in long fits, most pruned weights' masks are). */
#define FLUSH(v, TINY) (((v) < (TINY) && (v) > -(TINY)) ? 0 : (v))

/* The body of a block's backward pass (in a function with g, w, grad_w, n,
 * offset, scale, full and sums): m from `MASK` (an expression of x, logit and
 * i), the slope s = w g m (1 - m), dL/dw (m g, plus 2 scale w^2 m (1 - m) g
 * when `full`), and the sums of s and of s times the logit. */
#define MASK_BACKWARD_LOOP(T, TINY, MASK, GRAD)                                              \
    _Pragma("omp simd reduction(+ : slopes, weighted)") for (Py_ssize_t i = 0; i < n; i++) \
    {                                                                                       \
        T x = w[i], gradient = g[i];                                                        \
        T logit = x * x * scale + offset;                                                   \
        T m = MASK;                                                                         \
        T slope = FLUSH(x * gradient * m * ((T)1 - m), TINY);                               \
        grad_w[i] = FLUSH(GRAD, TINY);                                                      \
        slopes += slope;                                                                    \
        weighted += slope * logit;                                                          \
    }
#define MASK_BACKWARD_BLOCK(T, TINY, MASK)                                                   \
    T slopes = 0, weighted = 0;                                                             \
    T twice_scale = (T)2 * scale;                                                           \
    if (full) {                                                                             \
        MASK_BACKWARD_LOOP(T, TINY, MASK, gradient * m + slope * x * twice_scale)           \
    } else {                                                                                \
        MASK_BACKWARD_LOOP(T, TINY, MASK, gradient * m)                                     \
    }                                                                                       \
    sums[0] = slopes;                                                                       \
    sums[1] = weighted;

/* One block of the mask, forward and backward, in float32 and float64. */
#define DEFINE_MASK_BLOCKS(T, SUFFIX, EXP, TINY)                                             \
    static VECTOR_CLONES void mask_forward_##SUFFIX(const T *w, T *out, Py_ssize_t n,       \
                                                    T offset, T scale)                      \
    {                                                                                       \
        _Pragma("omp simd") for (Py_ssize_t i = 0; i < n; i++)                               \
        {                                                                                   \
            T x = w[i];                                                                     \
            T m = (T)1 / ((T)1 + EXP(-(x * x * scale + offset)));                           \
            out[i] = FLUSH(x * m, TINY);                                                    \
        }                                                                                   \
    }                                                                                       \
    /* The same, and in the same pass the sum of exp(-((|w| - p) / h)^2 / 2)     \
     * (+ the mirror term at -p): the KDE of the magnitudes at the threshold. */            \
    static VECTOR_CLONES T mask_forward_kde_##SUFFIX(const T *w, T *out, Py_ssize_t n,     \
                                                     T offset, T scale, T point,            \
                                                     T inverse_bandwidth, int reflect)      \
    {                                                                                       \
        T sum = 0;                                                                          \
        if (reflect) {                                                                      \
            _Pragma("omp simd reduction(+ : sum)") for (Py_ssize_t i = 0; i < n; i++)      \
            {                                                                               \
                T x = w[i], a = x < 0 ? -x : x;                                             \
                T m = (T)1 / ((T)1 + EXP(-(x * x * scale + offset)));                       \
                out[i] = FLUSH(x * m, TINY);                                                \
                T near = (a - point) * inverse_bandwidth;                                   \
                T far = (a + point) * inverse_bandwidth;                                    \
                sum += EXP((T)-0.5 * near * near) + EXP((T)-0.5 * far * far);               \
            }                                                                               \
        } else {                                                                            \
            _Pragma("omp simd reduction(+ : sum)") for (Py_ssize_t i = 0; i < n; i++)      \
            {                                                                               \
                T x = w[i], a = x < 0 ? -x : x;                                             \
                T m = (T)1 / ((T)1 + EXP(-(x * x * scale + offset)));                       \
                out[i] = FLUSH(x * m, TINY);                                                \
                T near = (a - point) * inverse_bandwidth;                                   \
                sum += EXP((T)-0.5 * near * near);                                          \
            }                                                                               \
        }                                                                                   \
        return sum;                                                                         \
    }                                                                                       \
    static VECTOR_CLONES void mask_backward_##SUFFIX(const T *g, const T *w, T *grad_w,     \
                                                     Py_ssize_t n, T offset, T scale,       \
                                                     int full, double *sums)                \
    {                                                                                       \
        MASK_BACKWARD_BLOCK(T, TINY, FLUSH((T)1 / ((T)1 + EXP(-logit)), TINY))              \
    }                                                                                       \
    /* The same from the forward pass's w m (`masked`, which may be grad_w itself: each  \
     * is read before it is written): m is (w m) / w instead of a second sigmoid, within  \
     * an ulp or two of it; where the logit is the offset (w = 0, or w^2 / tau below its  \
     * ulp) it is `at_offset`, the sigmoid of the offset, exactly; where w m was flushed  \
     * to 0 it is 0, the mask being below the smallest normal number over |w| there. */  \
    static VECTOR_CLONES void mask_backward_masked_##SUFFIX(                                 \
        const T *g, const T *w, const T *masked, T *grad_w, Py_ssize_t n, T offset,         \
        T scale, T at_offset, int full, double *sums)                                       \
    {                                                                                       \
        MASK_BACKWARD_BLOCK(T, TINY,                                                        \
                            logit == offset ? at_offset : FLUSH(masked[i] / x, TINY))       \
    }

DEFINE_MASK_BLOCKS(float, f32, exp_f32, FLT_MIN)
DEFINE_MASK_BLOCKS(double, f64, exp_f64, DBL_MIN)

/* The blocks of a pool of n, on up to `threads` threads (one for a pool of
 * a few blocks, where waking the others costs more than they save). */
static inline Py_ssize_t blocks_of(Py_ssize_t n) { return (n + BLOCK - 1) / BLOCK; }
#define TEAM(blocks, threads) ((blocks) >= 4 ? (threads) : 1)

/* The mask forward over a pool of n; with a positive inverse_bandwidth also
 * the KDE sum at `point` (0 otherwise), block by block in a fixed order. */
static int mask_forward_parallel(const void *w, void *out, Py_ssize_t n, double offset,
                                 double scale, double point, double inverse_bandwidth,
                                 int reflect, int is_double, int threads, double *kde)
{
    Py_ssize_t blocks = blocks_of(n);
    int with_kde = inverse_bandwidth > 0.0;
    double *sums = malloc((size_t)(blocks > 0 ? blocks : 1) * sizeof(double));
    if (sums == NULL) return -1;
#pragma omp parallel for schedule(static) num_threads(TEAM(blocks, threads))
    for (Py_ssize_t b = 0; b < blocks; b++) {
        Py_ssize_t start = b * BLOCK, size = n - start < BLOCK ? n - start : BLOCK;
        sums[b] = 0.0;
        if (is_double && with_kde)
            sums[b] = mask_forward_kde_f64((const double *)w + start, (double *)out + start,
                                           size, offset, scale, point, inverse_bandwidth,
                                           reflect);
        else if (is_double)
            mask_forward_f64((const double *)w + start, (double *)out + start, size, offset,
                             scale);
        else if (with_kde)
            sums[b] = mask_forward_kde_f32((const float *)w + start, (float *)out + start,
                                           size, (float)offset, (float)scale, (float)point,
                                           (float)inverse_bandwidth, reflect);
        else
            mask_forward_f32((const float *)w + start, (float *)out + start, size,
                             (float)offset, (float)scale);
    }
    *kde = 0.0;
    for (Py_ssize_t b = 0; b < blocks; b++) *kde += sums[b];
    free(sums);
    return 0;
}

/* The mask's sigmoid at the offset (w = 0), as the passes compute it. */
static float sigmoid_at_f32(float offset)
{
    return FLUSH(1.0f / (1.0f + exp_f32(-offset)), FLT_MIN);
}
static double sigmoid_at_f64(double offset)
{
    return FLUSH(1.0 / (1.0 + exp_f64(-offset)), DBL_MIN);
}

/* The mask backward over a pool of n; given the forward pass's w m
 * (`masked`, else NULL), m is read from it (mask_backward_masked_*). */
static int mask_backward_parallel(const void *g, const void *w, const void *masked,
                                  void *grad_w, Py_ssize_t n, double offset, double scale,
                                  int full, int is_double, int threads, double *slopes,
                                  double *weighted)
{
    Py_ssize_t blocks = blocks_of(n);
    double *sums = malloc((size_t)(blocks > 0 ? blocks : 1) * 2 * sizeof(double));
    if (sums == NULL) return -1;
    float at_f32 = sigmoid_at_f32((float)offset);
    double at_f64 = sigmoid_at_f64(offset);
#pragma omp parallel for schedule(static) num_threads(TEAM(blocks, threads))
    for (Py_ssize_t b = 0; b < blocks; b++) {
        Py_ssize_t start = b * BLOCK, size = n - start < BLOCK ? n - start : BLOCK;
        if (is_double && masked != NULL)
            mask_backward_masked_f64((const double *)g + start, (const double *)w + start,
                                     (const double *)masked + start, (double *)grad_w + start,
                                     size, offset, scale, at_f64, full, sums + 2 * b);
        else if (is_double)
            mask_backward_f64((const double *)g + start, (const double *)w + start,
                              (double *)grad_w + start, size, offset, scale, full,
                              sums + 2 * b);
        else if (masked != NULL)
            mask_backward_masked_f32((const float *)g + start, (const float *)w + start,
                                     (const float *)masked + start, (float *)grad_w + start,
                                     size, (float)offset, (float)scale, at_f32, full,
                                     sums + 2 * b);
        else
            mask_backward_f32((const float *)g + start, (const float *)w + start,
                              (float *)grad_w + start, size, (float)offset, (float)scale,
                              full, sums + 2 * b);
    }
    *slopes = 0.0;
    *weighted = 0.0;
    for (Py_ssize_t b = 0; b < blocks; b++) {
        *slopes += sums[2 * b];
        *weighted += sums[2 * b + 1];
    }
    free(sums);
    return 0;
}

/* One block of the window pass: how many magnitudes |x| lie below `low`, in
 * [low, high) and at or above `high`, their largest, sum and sum of squares
 * (NaN is in none of the three counts). */
#define DEFINE_WINDOW_BLOCK(T, SUFFIX)                                                       \
    static VECTOR_CLONES void window_block_##SUFFIX(const T *x, Py_ssize_t n, T low, T high,\
                                                    int64_t *counts, double *moments)       \
    {                                                                                       \
        int32_t below = 0, inside = 0, above = 0; /* n <= BLOCK */                          \
        T largest = 0, total = 0, squares = 0;                                              \
        _Pragma("omp simd reduction(+ : below, inside, above, total, squares) reduction(max : largest)") \
        for (Py_ssize_t i = 0; i < n; i++)                                                  \
        {                                                                                   \
            T a = ABS_##SUFFIX(x[i]);                                                       \
            below += a < low;                                                               \
            inside += (a >= low) & (a < high);                                              \
            above += a >= high;                                                             \
            largest = a > largest ? a : largest;                                            \
            total += a;                                                                     \
            squares += a * a;                                                               \
        }                                                                                   \
        counts[0] = below;                                                                  \
        counts[1] = inside;                                                                 \
        counts[2] = above;                                                                  \
        moments[0] = largest;                                                               \
        moments[1] = total;                                                                 \
        moments[2] = squares;                                                               \
    }                                                                                       \
    /* The block's magnitudes in [low, high), in order, from `out` on: a vector test of \
     * each run of 128 (one horizontal sum a run: a window holds a few magnitudes of a  \
     * block, spread across it), then in a run with one of them a test of each 16, and \
     * those with one gathered without a branch per magnitude (where a branch would   \
     * mispredict): each is stored at the next free place of a buffer, which a        \
     * magnitude outside the window leaves free, then the hits copied. */             \
    /* `runs` runs of 16 from x on, as window_gather gathers them: a vector test of     \
     * each, and those with a magnitude in the window gathered without a branch per    \
     * magnitude (where a branch would mispredict): each is stored at the next free    \
     * place of `run`, which a magnitude outside the window leaves free, then the hits  \
     * copied. Returns where the next one goes. */                                     \
    static inline T *window_gather_runs_##SUFFIX(const T *x, Py_ssize_t runs, T low,       \
                                                 T high, T *out)                            \
    {                                                                                       \
        T run[17];                                                                          \
        for (Py_ssize_t r = 0; r < runs; r++, x += 16) {                                    \
            int32_t hits = 0;                                                               \
            _Pragma("omp simd reduction(+ : hits)") for (int j = 0; j < 16; j++)           \
            {                                                                               \
                T a = ABS_##SUFFIX(x[j]);                                                   \
                hits += (a >= low) & (a < high);                                            \
            }                                                                               \
            if (hits) {                                                                     \
                int count = 0;                                                              \
                for (int j = 0; j < 16; j++) {                                              \
                    T a = ABS_##SUFFIX(x[j]);                                               \
                    run[count] = a;                                                         \
                    count += (a >= low) & (a < high);                                       \
                }                                                                           \
                memcpy(out, run, (size_t)count * sizeof(T));                                \
                out += count;                                                               \
            }                                                                               \
        }                                                                                   \
        return out;                                                                         \
    }                                                                                       \
    /* The block's magnitudes in [low, high), in order, from `out` on. A window holds a \
     * few magnitudes of a block, spread across it: a vector test of each run of 128    \
     * (one horizontal sum a run, where a test of each 16 took eight), then the runs of  \
     * 16 of a run with one of them. */                                                 \
    static VECTOR_CLONES void window_gather_##SUFFIX(const T *x, Py_ssize_t n, T low,     \
                                                     T high, T *out)                        \
    {                                                                                       \
        Py_ssize_t i = 0;                                                                   \
        for (; i + 128 <= n; i += 128) {                                                    \
            int32_t hits = 0;                                                               \
            _Pragma("omp simd reduction(+ : hits)") for (int j = 0; j < 128; j++)          \
            {                                                                               \
                T a = ABS_##SUFFIX(x[i + j]);                                               \
                hits += (a >= low) & (a < high);                                            \
            }                                                                               \
            if (hits) out = window_gather_runs_##SUFFIX(x + i, 8, low, high, out);           \
        }                                                                                   \
        out = window_gather_runs_##SUFFIX(x + i, (n - i) / 16, low, high, out);             \
        for (i += (n - i) / 16 * 16; i < n; i++) {                                          \
            T a = ABS_##SUFFIX(x[i]);                                                       \
            if ((a >= low) & (a < high)) *out++ = a;                                        \
        }                                                                                   \
    }                                                                                       \
    /* sum exp(-(|x| - p)^2 / 2h^2) (+ the mirror term exp(-(|x| + p)^2 / 2h^2)) */        \
    static VECTOR_CLONES double kde_block_##SUFFIX(const T *x, Py_ssize_t n, T point,       \
                                                   T inverse_bandwidth, int reflect)        \
    {                                                                                       \
        T sum = 0;                                                                          \
        if (reflect) {                                                                      \
            _Pragma("omp simd reduction(+ : sum)") for (Py_ssize_t i = 0; i < n; i++)      \
            {                                                                               \
                T a = ABS_##SUFFIX(x[i]);                                                   \
                T near = (a - point) * inverse_bandwidth, far = (a + point) * inverse_bandwidth;\
                sum += EXP_##SUFFIX((T)-0.5 * near * near) +                                \
                       EXP_##SUFFIX((T)-0.5 * far * far);                                   \
            }                                                                               \
        } else {                                                                            \
            _Pragma("omp simd reduction(+ : sum)") for (Py_ssize_t i = 0; i < n; i++)      \
            {                                                                               \
                T a = ABS_##SUFFIX(x[i]);                                                   \
                T near = (a - point) * inverse_bandwidth;                                   \
                sum += EXP_##SUFFIX((T)-0.5 * near * near);                                 \
            }                                                                               \
        }                                                                                   \
        return sum;                                                                         \
    }

#define ABS_f32 fabsf
#define ABS_f64 fabs
#define EXP_f32 exp_f32
#define EXP_f64 exp_f64
DEFINE_WINDOW_BLOCK(float, f32)
DEFINE_WINDOW_BLOCK(double, f64)

typedef struct {
    int64_t below, inside, above;
    double largest, total, squares;
} WindowStats;

/* The window pass over a pool of n: the counts and moments of every block in
 * parallel, then the magnitudes inside the window gathered block by block at
 * their offsets (known from the counts, so the gathered order is the pool's),
 * as many as `capacity` holds. */
static int window_parallel(const void *x, Py_ssize_t n, double low, double high,
                           void *out, Py_ssize_t capacity, int is_double, int threads,
                           WindowStats *stats)
{
    Py_ssize_t blocks = blocks_of(n);
    size_t slots = (size_t)(blocks > 0 ? blocks : 1);
    int64_t *counts = malloc(slots * 3 * sizeof(int64_t));
    double *moments = malloc(slots * 3 * sizeof(double));
    if (counts == NULL || moments == NULL) {
        free(counts);
        free(moments);
        return -1;
    }
    Py_ssize_t itemsize = is_double ? 8 : 4;
#pragma omp parallel num_threads(TEAM(blocks, threads))
    {
#pragma omp for schedule(static)
        for (Py_ssize_t b = 0; b < blocks; b++) {
            Py_ssize_t start = b * BLOCK, size = n - start < BLOCK ? n - start : BLOCK;
            if (is_double)
                window_block_f64((const double *)x + start, size, low, high, counts + 3 * b,
                                 moments + 3 * b);
            else
                window_block_f32((const float *)x + start, size, (float)low, (float)high,
                                 counts + 3 * b, moments + 3 * b);
        }
#pragma omp single
        {
            int64_t offset = 0;
            for (Py_ssize_t b = 0; b < blocks; b++) {
                int64_t inside = counts[3 * b + 1];
                counts[3 * b + 1] = offset; /* from here on: where the block's go */
                offset += inside;
            }
            stats->inside = offset;
        }
        if (stats->inside <= capacity) {
#pragma omp for schedule(static)
            for (Py_ssize_t b = 0; b < blocks; b++) {
                Py_ssize_t start = b * BLOCK, size = n - start < BLOCK ? n - start : BLOCK;
                char *at = (char *)out + itemsize * counts[3 * b + 1];
                if (is_double)
                    window_gather_f64((const double *)x + start, size, low, high,
                                      (double *)at);
                else
                    window_gather_f32((const float *)x + start, size, (float)low,
                                      (float)high, (float *)at);
            }
        }
    }
    stats->below = stats->above = 0;
    stats->largest = stats->total = stats->squares = 0.0;
    for (Py_ssize_t b = 0; b < blocks; b++) {
        stats->below += counts[3 * b];
        stats->above += counts[3 * b + 2];
        stats->largest = moments[3 * b] > stats->largest ? moments[3 * b] : stats->largest;
        stats->total += moments[3 * b + 1];
        stats->squares += moments[3 * b + 2];
    }
    free(counts);
    free(moments);
    return 0;
}

static int kde_parallel(const void *x, Py_ssize_t n, double point, double inverse_bandwidth,
                        int reflect, int is_double, int threads, double *result)
{
    Py_ssize_t blocks = blocks_of(n);
    double *sums = malloc((size_t)(blocks > 0 ? blocks : 1) * sizeof(double));
    if (sums == NULL) return -1;
#pragma omp parallel for schedule(static) num_threads(TEAM(blocks, threads))
    for (Py_ssize_t b = 0; b < blocks; b++) {
        Py_ssize_t start = b * BLOCK, size = n - start < BLOCK ? n - start : BLOCK;
        sums[b] = is_double ? kde_block_f64((const double *)x + start, size, point,
                                            inverse_bandwidth, reflect)
                            : kde_block_f32((const float *)x + start, size, (float)point,
                                            (float)inverse_bandwidth, reflect);
    }
    *result = 0.0;
    for (Py_ssize_t b = 0; b < blocks; b++) *result += sums[b];
    free(sums);
    return 0;
}

/* A C-contiguous buffer of `object` whose items are `itemsize` bytes of the
 * given kind: 'f' float, 'i' signed integer. `function` and `name` word the
 * error. */
static int get_buffer(PyObject *object, Py_buffer *view, int writable, char kind,
                      Py_ssize_t itemsize, const char *function, const char *name)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(object, view, flags) < 0) return -1;
    const char *format = view->format == NULL ? "B" : view->format;
    if (*format == '@' || *format == '=' || *format == '<') format++;
    int matches = view->itemsize == itemsize && format[0] != '\0' && format[1] == '\0' &&
                  (kind == 'f' ? (*format == 'f' || *format == 'd')
                               : strchr("hilq", *format) != NULL);
    if (!matches) {
        PyErr_Format(PyExc_TypeError, "%s: %s must hold %s%d, got format '%s'.", function,
                     name, kind == 'f' ? "float" : "int", (int)(8 * itemsize), view->format);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* Buffers of float32 or float64 (the first one's), all of the same length. */
static int get_float_buffers(PyObject **objects, Py_buffer *views, const int *writable,
                             const char *const *names, int count, const char *function)
{
    Py_ssize_t itemsize = 4;
    for (int i = 0; i < count; i++) {
        if (i == 0) {
            if (PyObject_GetBuffer(objects[0], &views[0], PyBUF_C_CONTIGUOUS) < 0) return -1;
            itemsize = views[0].itemsize;
            PyBuffer_Release(&views[0]);
            if (itemsize != 4 && itemsize != 8) itemsize = 4; /* worded below */
        }
        if (get_buffer(objects[i], &views[i], writable[i], 'f', itemsize, function,
                       names[i]) < 0 ||
            (i > 0 && views[i].len != views[0].len &&
             (PyErr_Format(PyExc_ValueError, "%s: %s and %s differ in length.", function,
                           names[0], names[i]),
              PyBuffer_Release(&views[i]), 1))) {
            for (int j = 0; j < i; j++) PyBuffer_Release(&views[j]);
            return -1;
        }
    }
    return 0;
}

static void release_all(Py_buffer *views, int count)
{
    for (int i = 0; i < count; i++) PyBuffer_Release(&views[i]);
}

static PyObject *mask_forward(PyObject *self, PyObject *args)
{
    PyObject *objects[2];
    Py_buffer views[2];
    double offset, scale, point = 0.0, inverse_bandwidth = 0.0, kde = 0.0;
    int threads, reflect = 0, status;
    static const int writable[2] = {0, 1};
    static const char *const names[2] = {"weight", "out"};
    if (!PyArg_ParseTuple(args, "OddOi|ddp", &objects[0], &offset, &scale, &objects[1],
                          &threads, &point, &inverse_bandwidth, &reflect))
        return NULL;
    if (threads < 1) {
        PyErr_SetString(PyExc_ValueError, "mask_forward needs at least one thread.");
        return NULL;
    }
    if (get_float_buffers(objects, views, writable, names, 2, "mask_forward") < 0)
        return NULL;
    Py_ssize_t itemsize = views[0].itemsize, n = views[0].len / itemsize;
    Py_BEGIN_ALLOW_THREADS
    status = mask_forward_parallel(views[0].buf, views[1].buf, n, offset, scale, point,
                                   inverse_bandwidth, reflect, itemsize == 8, threads, &kde);
    Py_END_ALLOW_THREADS
    release_all(views, 2);
    if (status < 0) return PyErr_NoMemory();
    return PyFloat_FromDouble(kde);
}

static PyObject *mask_backward(PyObject *self, PyObject *args)
{
    PyObject *objects[4] = {NULL, NULL, NULL, Py_None};
    Py_buffer views[4];
    double offset, scale, slopes = 0.0, weighted = 0.0;
    int full, threads, status;
    static const int writable[4] = {0, 0, 1, 0};
    static const char *const names[4] = {"grad", "weight", "grad_weight", "masked"};
    if (!PyArg_ParseTuple(args, "OOddpOi|O", &objects[0], &objects[1], &offset, &scale, &full,
                          &objects[2], &threads, &objects[3]))
        return NULL;
    if (threads < 1) {
        PyErr_SetString(PyExc_ValueError, "mask_backward needs at least one thread.");
        return NULL;
    }
    int count = objects[3] == Py_None ? 3 : 4;
    if (get_float_buffers(objects, views, writable, names, count, "mask_backward") < 0)
        return NULL;
    Py_ssize_t itemsize = views[0].itemsize, n = views[0].len / itemsize;
    const void *masked = count == 4 ? views[3].buf : NULL;
    Py_BEGIN_ALLOW_THREADS
    status = mask_backward_parallel(views[0].buf, views[1].buf, masked, views[2].buf, n,
                                    offset, scale, full, itemsize == 8, threads, &slopes,
                                    &weighted);
    Py_END_ALLOW_THREADS
    release_all(views, count);
    if (status < 0) return PyErr_NoMemory();
    return Py_BuildValue("dd", slopes, weighted);
}

static PyObject *window(PyObject *self, PyObject *args)
{
    PyObject *objects[2];
    Py_buffer views[2];
    double low, high;
    int threads, status;
    WindowStats stats;
    static const int writable[2] = {0, 1};
    static const char *const names[2] = {"samples", "out"};
    if (!PyArg_ParseTuple(args, "OddOi", &objects[0], &low, &high, &objects[1], &threads))
        return NULL;
    if (threads < 1) {
        PyErr_SetString(PyExc_ValueError, "window needs at least one thread.");
        return NULL;
    }
    /* `out` may be shorter than the samples: only its item type must match. */
    if (get_float_buffers(objects, views, writable, names, 1, "window") < 0) return NULL;
    if (get_buffer(objects[1], &views[1], 1, 'f', views[0].itemsize, "window", "out") < 0) {
        PyBuffer_Release(&views[0]);
        return NULL;
    }
    Py_ssize_t itemsize = views[0].itemsize, n = views[0].len / itemsize;
    Py_BEGIN_ALLOW_THREADS
    status = window_parallel(views[0].buf, n, low, high, views[1].buf,
                             views[1].len / itemsize, itemsize == 8, threads, &stats);
    Py_END_ALLOW_THREADS
    release_all(views, 2);
    if (status < 0) return PyErr_NoMemory();
    return Py_BuildValue("LLLddd", (long long)stats.below, (long long)stats.inside,
                         (long long)stats.above, stats.largest, stats.total, stats.squares);
}

static PyObject *kde_sum(PyObject *self, PyObject *args)
{
    PyObject *object;
    Py_buffer view;
    double point, inverse_bandwidth, result = 0.0;
    int reflect, threads, status;
    static const int writable[1] = {0};
    static const char *const names[1] = {"samples"};
    if (!PyArg_ParseTuple(args, "Oddpi", &object, &point, &inverse_bandwidth, &reflect,
                          &threads))
        return NULL;
    if (threads < 1) {
        PyErr_SetString(PyExc_ValueError, "kde_sum needs at least one thread.");
        return NULL;
    }
    if (get_float_buffers(&object, &view, writable, names, 1, "kde_sum") < 0) return NULL;
    Py_ssize_t itemsize = view.itemsize, n = view.len / itemsize;
    Py_BEGIN_ALLOW_THREADS
    status = kde_parallel(view.buf, n, point, inverse_bandwidth, reflect, itemsize == 8,
                          threads, &result);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (status < 0) return PyErr_NoMemory();
    return PyFloat_FromDouble(result);
}

static PyObject *count_bins(PyObject *self, PyObject *args)
{
    PyObject *samples_object, *index_object, *counts_object;
    Py_buffer samples, index, counts;
    double inverse_spacing;
    int threads;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "OdOOi", &samples_object, &inverse_spacing, &index_object,
                          &counts_object, &threads))
        return NULL;
    if (get_buffer(samples_object, &samples, 0, 'f', 4, "count_bins", "samples") < 0) return NULL;
    if (get_buffer(index_object, &index, 1, 'i', 2, "count_bins", "index") < 0) {
        PyBuffer_Release(&samples);
        return NULL;
    }
    if (get_buffer(counts_object, &counts, 1, 'i', 8, "count_bins", "counts") < 0) {
        PyBuffer_Release(&samples);
        PyBuffer_Release(&index);
        return NULL;
    }
    Py_ssize_t n = samples.len / 4, bins = counts.len / 8;
    if (index.len / 2 != n || bins < 1 || bins > INT16_MAX || threads < 1) {
        PyErr_SetString(PyExc_ValueError,
                        "count_bins needs an index as long as the samples, 1 to 32767 "
                        "bins and at least one thread.");
    } else if (n > (Py_ssize_t)UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "count_bins counts at most 2^32 samples.");
    } else {
        int status;
        Py_BEGIN_ALLOW_THREADS
        status = count_bins_parallel((const float *)samples.buf, n, (float)inverse_spacing,
                                     (int16_t *)index.buf, (int64_t *)counts.buf, bins,
                                     threads);
        Py_END_ALLOW_THREADS
        if (status < 0)
            PyErr_NoMemory();
        else
            result = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&samples);
    PyBuffer_Release(&index);
    PyBuffer_Release(&counts);
    return result;
}


/* The k-th smallest of x[0..n) (0-based) moved to x[k], the smaller ones
 * before it and the larger after it (in no order): quickselect on a
 * median-of-three pivot, finished by a sort if it takes too many rounds. */
#define DEFINE_SELECT(T, SUFFIX)                                                             \
    static int compare_##SUFFIX(const void *a, const void *b)                               \
    {                                                                                       \
        T x = *(const T *)a, y = *(const T *)b;                                             \
        return (x > y) - (x < y);                                                           \
    }                                                                                       \
    static void select_##SUFFIX(T *x, Py_ssize_t n, Py_ssize_t k)                           \
    {                                                                                       \
        Py_ssize_t low = 0, high = n - 1, rounds = 0;                                       \
        while (high > low) {                                                                \
            if (++rounds > 64) {                                                            \
                qsort(x + low, (size_t)(high - low + 1), sizeof(T), compare_##SUFFIX);      \
                return;                                                                     \
            }                                                                               \
            Py_ssize_t middle = low + (high - low) / 2;                                     \
            T a = x[low], b = x[middle], c = x[high], pivot;                                \
            pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));  \
            Py_ssize_t i = low, j = high;                                                   \
            while (i <= j) {                                                                \
                while (x[i] < pivot) i++;                                                   \
                while (x[j] > pivot) j--;                                                   \
                if (i <= j) {                                                               \
                    T swap = x[i];                                                          \
                    x[i] = x[j];                                                            \
                    x[j] = swap;                                                            \
                    i++;                                                                    \
                    j--;                                                                    \
                }                                                                           \
            }                                                                               \
            if (k <= j)                                                                     \
                high = j;                                                                   \
            else if (k >= i)                                                                \
                low = i;                                                                    \
            else                                                                            \
                return;                                                                     \
        }                                                                                   \
    }
DEFINE_SELECT(float, f32)
DEFINE_SELECT(double, f64)

/* The buffers of a stacked call: the (K, n) pools (and others of their
 * shape and type), int64 row numbers and per-row float64 or int64 values. */
typedef struct {
    Py_buffer views[8];
    int count;
} Buffers;

static int add_buffer(Buffers *buffers, PyObject *object, int writable, char kind,
                      Py_ssize_t itemsize, Py_ssize_t items, const char *function,
                      const char *name)
{
    Py_buffer *view = &buffers->views[buffers->count];
    if (get_buffer(object, view, writable, kind, itemsize, function, name) < 0) return -1;
    buffers->count++;
    if (items >= 0 && view->len != items * itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: %s must hold %zd items.", function, name, items);
        return -1;
    }
    return 0;
}

/* The pools' buffer first: its item size (4 or 8) and K = its length / n. */
static int add_pools(Buffers *buffers, PyObject *object, Py_ssize_t n, Py_ssize_t *itemsize,
                     Py_ssize_t *models, const char *function)
{
    Py_buffer probe;
    if (PyObject_GetBuffer(object, &probe, PyBUF_C_CONTIGUOUS) < 0) return -1;
    *itemsize = probe.itemsize == 8 ? 8 : 4;
    PyBuffer_Release(&probe);
    if (add_buffer(buffers, object, 0, 'f', *itemsize, -1, function, "weights") < 0) return -1;
    Py_ssize_t items = buffers->views[0].len / *itemsize;
    if (n < 1 || items % n != 0) {
        PyErr_Format(PyExc_ValueError, "%s: the weights must hold K rows of n = %zd.",
                     function, n);
        return -1;
    }
    *models = items / n;
    return 0;
}

/* The row numbers, each checked to be below K. */
static int add_rows(Buffers *buffers, PyObject *object, Py_ssize_t models,
                    Py_ssize_t *count, const char *function)
{
    if (add_buffer(buffers, object, 0, 'i', 8, -1, function, "rows") < 0) return -1;
    Py_buffer *view = &buffers->views[buffers->count - 1];
    *count = view->len / 8;
    const int64_t *rows = view->buf;
    for (Py_ssize_t i = 0; i < *count; i++) {
        if (rows[i] < 0 || rows[i] >= models) {
            PyErr_Format(PyExc_ValueError, "%s: row %lld is not among the %zd.", function,
                         (long long)rows[i], models);
            return -1;
        }
    }
    return 0;
}

static void release_buffers(Buffers *buffers)
{
    for (int i = 0; i < buffers->count; i++) PyBuffer_Release(&buffers->views[i]);
    buffers->count = 0;
}

/* s_k and s_{k+1} (1-based) of the n magnitudes in x: the largest of the k
 * smallest, and the (k+1)-th. */
static void select_pair(char *x, Py_ssize_t n, Py_ssize_t k, int is_double, double *pair)
{
    if (is_double) {
        double *v = (double *)x, largest = 0.0;
        select_f64(v, n, k);
        for (Py_ssize_t j = 0; j < k; j++) largest = v[j] > largest ? v[j] : largest;
        pair[0] = largest;
        pair[1] = v[k];
    } else {
        float *v = (float *)x, largest = 0.0f;
        select_f32(v, n, k);
        for (Py_ssize_t j = 0; j < k; j++) largest = v[j] > largest ? v[j] : largest;
        pair[0] = largest;
        pair[1] = v[k];
    }
}

/* One row of stacked_select: first the window [low, high) (when low < high),
 * whose gathered few hold ranks k and k + 1 unless the threshold moved out
 * of it; else every magnitude. The moments are the pool's either way. */
static int select_row(const char *w, char *mags, Py_ssize_t n, int64_t k, double low,
                      double high, int is_double, double *out)
{
    WindowStats st;
    out[4] = out[5] = out[6] = 0.0;
    if (k >= 1 && low < high) {
        if (window_parallel(w, n, low, high, mags, n, is_double, 1, &st) < 0) return -1;
        if (st.below + st.inside + st.above == n && isfinite(st.largest) &&
            st.below < k && k < st.below + st.inside) {
            out[0] = (double)n;
            out[1] = st.largest;
            out[2] = st.total;
            out[3] = st.squares;
            out[6] = (double)st.inside;
            select_pair(mags, st.inside, k - st.below, is_double, out + 4);
            return 0;
        }
    }
    if (window_parallel(w, n, 0.0, INFINITY, mags, n, is_double, 1, &st) < 0) return -1;
    out[0] = (double)st.inside;
    out[1] = st.largest;
    out[2] = st.total;
    out[3] = st.squares;
    if (st.inside == n && k >= 1) select_pair(mags, n, k, is_double, out + 4);
    return 0;
}

static PyObject *stacked_select(PyObject *self, PyObject *args)
{
    PyObject *weights, *magnitudes, *rows_object, *ranks_object, *windows_object,
        *stats_object;
    Py_ssize_t n, itemsize, models, count;
    int threads, failed = 0;
    Buffers b = {.count = 0};
    const char *function = "stacked_select";
    if (!PyArg_ParseTuple(args, "OOnOOOOi", &weights, &magnitudes, &n, &rows_object,
                          &ranks_object, &windows_object, &stats_object, &threads))
        return NULL;
    if (add_pools(&b, weights, n, &itemsize, &models, function) < 0 ||
        add_buffer(&b, magnitudes, 1, 'f', itemsize, models * n, function, "magnitudes") < 0 ||
        add_rows(&b, rows_object, models, &count, function) < 0 ||
        add_buffer(&b, ranks_object, 0, 'i', 8, models, function, "ranks") < 0 ||
        add_buffer(&b, windows_object, 0, 'f', 8, models * 2, function, "windows") < 0 ||
        add_buffer(&b, stats_object, 1, 'f', 8, models * 7, function, "stats") < 0) {
        release_buffers(&b);
        return NULL;
    }
    const char *w = b.views[0].buf;
    char *mags = b.views[1].buf;
    const int64_t *rows = b.views[2].buf, *ranks = b.views[3].buf;
    const double *windows = b.views[4].buf;
    double *stats = b.views[5].buf;
    for (Py_ssize_t i = 0; i < count; i++)
        if (ranks[rows[i]] < 0 || ranks[rows[i]] >= n) failed = 1;
    if (failed) {
        PyErr_SetString(PyExc_ValueError, "stacked_select: ranks must be in [0, n).");
        release_buffers(&b);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel for schedule(static) num_threads(threads < 1 ? 1 : threads)
    for (Py_ssize_t i = 0; i < count; i++) {
        int64_t r = rows[i];
        if (select_row(w + r * n * itemsize, mags + r * n * itemsize, n, ranks[r],
                       windows[2 * r], windows[2 * r + 1], itemsize == 8, stats + 7 * r) < 0) {
#pragma omp atomic write
            failed = 1;
        }
    }
    Py_END_ALLOW_THREADS
    release_buffers(&b);
    if (failed) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyObject *stacked_mask_forward(PyObject *self, PyObject *args)
{
    PyObject *weights, *out_object, *rows_object, *offsets_object, *scales_object,
        *points_object, *inverse_bandwidths_object, *reflects_object, *kde_object;
    Py_ssize_t n, itemsize, models, count;
    int threads, failed = 0;
    Buffers b = {.count = 0};
    const char *function = "stacked_mask_forward";
    if (!PyArg_ParseTuple(args, "OOnOOOOOOOi", &weights, &out_object, &n, &rows_object,
                          &offsets_object, &scales_object, &points_object,
                          &inverse_bandwidths_object, &reflects_object, &kde_object,
                          &threads))
        return NULL;
    if (add_pools(&b, weights, n, &itemsize, &models, function) < 0 ||
        add_buffer(&b, out_object, 1, 'f', itemsize, models * n, function, "out") < 0 ||
        add_rows(&b, rows_object, models, &count, function) < 0 ||
        add_buffer(&b, offsets_object, 0, 'f', 8, models, function, "offsets") < 0 ||
        add_buffer(&b, scales_object, 0, 'f', 8, models, function, "scales") < 0 ||
        add_buffer(&b, points_object, 0, 'f', 8, models, function, "points") < 0 ||
        add_buffer(&b, inverse_bandwidths_object, 0, 'f', 8, models, function,
                   "inverse_bandwidths") < 0 ||
        add_buffer(&b, reflects_object, 0, 'i', 8, models, function, "reflects") < 0) {
        release_buffers(&b);
        return NULL;
    }
    /* The KDE sums: a separate buffer (the eight views are taken). */
    Py_buffer kde_view;
    if (get_buffer(kde_object, &kde_view, 1, 'f', 8, function, "kde") < 0) {
        release_buffers(&b);
        return NULL;
    }
    if (kde_view.len != models * 8) {
        PyErr_Format(PyExc_ValueError, "%s: kde must hold %zd items.", function, models);
        PyBuffer_Release(&kde_view);
        release_buffers(&b);
        return NULL;
    }
    const char *w = b.views[0].buf;
    char *out = b.views[1].buf;
    const int64_t *rows = b.views[2].buf, *reflects = b.views[7].buf;
    const double *offsets = b.views[3].buf, *scales = b.views[4].buf,
                 *points = b.views[5].buf, *inverse_bandwidths = b.views[6].buf;
    double *kde = kde_view.buf;
    Py_BEGIN_ALLOW_THREADS
#pragma omp parallel for schedule(static) num_threads(threads < 1 ? 1 : threads)
    for (Py_ssize_t i = 0; i < count; i++) {
        int64_t r = rows[i];
        double unused;
        const char *row = w + r * n * itemsize;
        if (kde_parallel(row, n, points[r], inverse_bandwidths[r], reflects[r] != 0,
                         itemsize == 8, 1, &kde[r]) < 0 ||
            mask_forward_parallel(row, out + r * n * itemsize, n, offsets[r], scales[r], 0.0,
                                  0.0, 0, itemsize == 8, 1, &unused) < 0) {
#pragma omp atomic write
            failed = 1;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&kde_view);
    release_buffers(&b);
    if (failed) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyObject *stacked_mask_backward(PyObject *self, PyObject *args)
{
    PyObject *grads_object, *weights, *masked_object, *grad_weights, *rows_object,
        *offsets_object, *scales_object, *sums_object, *grads = NULL;
    Py_ssize_t n, itemsize, models, count, part_count = 0;
    int full, threads, failed = 0;
    Py_buffer *parts = NULL;
    Py_ssize_t *sizes = NULL;
    Buffers b = {.count = 0};
    const char *function = "stacked_mask_backward";
    if (!PyArg_ParseTuple(args, "OOOOnOOOpOi", &grads_object, &weights, &masked_object,
                          &grad_weights, &n, &rows_object, &offsets_object, &scales_object,
                          &full, &sums_object, &threads))
        return NULL;
    if (add_pools(&b, weights, n, &itemsize, &models, function) < 0 ||
        add_buffer(&b, grad_weights, 1, 'f', itemsize, models * n, function,
                   "grad_weights") < 0 ||
        add_rows(&b, rows_object, models, &count, function) < 0 ||
        add_buffer(&b, offsets_object, 0, 'f', 8, models, function, "offsets") < 0 ||
        add_buffer(&b, scales_object, 0, 'f', 8, models, function, "scales") < 0 ||
        add_buffer(&b, sums_object, 1, 'f', 8, models * 2, function, "sums") < 0 ||
        add_buffer(&b, masked_object, 0, 'f', itemsize, models * n, function, "masked") < 0)
        goto done;
    /* The gradients of the parts of every row: (K, size) buffers, in order. */
    grads = PySequence_Fast(grads_object, "stacked_mask_backward: grads must be a sequence.");
    if (grads == NULL) goto done;
    Py_ssize_t given = PySequence_Fast_GET_SIZE(grads), total = 0;
    parts = PyMem_Calloc(given > 0 ? given : 1, sizeof(Py_buffer));
    sizes = PyMem_Calloc(given > 0 ? given : 1, sizeof(Py_ssize_t));
    if (parts == NULL || sizes == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; part_count < given; part_count++) {
        if (get_buffer(PySequence_Fast_GET_ITEM(grads, part_count), &parts[part_count], 0,
                       'f', itemsize, function, "a part's gradient") < 0)
            goto done;
        Py_ssize_t items = parts[part_count].len / itemsize;
        if (items % models != 0) {
            PyErr_SetString(PyExc_ValueError,
                            "stacked_mask_backward: each part must hold K rows.");
            part_count++;
            goto done;
        }
        sizes[part_count] = items / models;
        total += sizes[part_count];
    }
    if (total != n) {
        PyErr_SetString(PyExc_ValueError, "stacked_mask_backward: the parts must sum to n.");
        goto done;
    }
    {
        const char *w = b.views[0].buf;
        char *gw = b.views[1].buf;
        const int64_t *rows = b.views[2].buf;
        const double *offsets = b.views[3].buf, *scales = b.views[4].buf;
        double *sums = b.views[5].buf;
        const char *masked = b.views[6].buf;
        Py_BEGIN_ALLOW_THREADS
#pragma omp parallel for schedule(static) num_threads(threads < 1 ? 1 : threads)
        for (Py_ssize_t i = 0; i < count; i++) {
            int64_t r = rows[i];
            Py_ssize_t start = r * n * itemsize;
            double slopes = 0.0, weighted = 0.0;
            /* Part by part, added in order: the sums of one model's layers. */
            for (Py_ssize_t p = 0; p < part_count; p++) {
                double part_slopes, part_weighted;
                const char *g = (const char *)parts[p].buf + r * sizes[p] * itemsize;
                if (mask_backward_parallel(g, w + start, masked + start, gw + start, sizes[p],
                                           offsets[r], scales[r], full, itemsize == 8, 1,
                                           &part_slopes, &part_weighted) < 0) {
#pragma omp atomic write
                    failed = 1;
                    break;
                }
                slopes += part_slopes;
                weighted += part_weighted;
                start += sizes[p] * itemsize;
            }
            sums[2 * r] = slopes;
            sums[2 * r + 1] = weighted;
        }
        Py_END_ALLOW_THREADS
        if (failed) PyErr_NoMemory();
    }
done:
    for (Py_ssize_t p = 0; p < part_count; p++) PyBuffer_Release(&parts[p]);
    PyMem_Free(parts);
    PyMem_Free(sizes);
    Py_XDECREF(grads);
    release_buffers(&b);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"stacked_select", stacked_select, METH_VARARGS,
     "stacked_select(weights, magnitudes, n, rows, ranks, windows, stats, threads)\n\n"
     "For each row r of rows: window(weights[r], 0, inf, magnitudes[r]) and, when "
     "every magnitude is finite and ranks[r] >= 1, s_k and s_{k+1} (k = ranks[r]), "
     "found among the magnitudes in [windows[r, 0], windows[r, 1]) when they hold "
     "both. stats[r] = (finite magnitudes, largest, sum, sum of squares, s_k, "
     "s_{k+1}, magnitudes in the window or 0 where it missed)."},
    {"stacked_mask_forward", stacked_mask_forward, METH_VARARGS,
     "stacked_mask_forward(weights, out, n, rows, offsets, scales, points, "
     "inverse_bandwidths, reflects, kde, threads)\n\n"
     "For each row r of rows: kde[r] = kde_sum(weights[r], points[r], "
     "inverse_bandwidths[r], reflects[r]) and mask_forward(weights[r], offsets[r], "
     "scales[r], out[r])."},
    {"stacked_mask_backward", stacked_mask_backward, METH_VARARGS,
     "stacked_mask_backward(grads, weights, masked, grad_weights, n, rows, offsets, "
     "scales, full, sums, threads)\n\n"
     "grads: the gradients of the rows' parts, (K, size) buffers whose sizes add "
     "to n; masked: the forward pass's (K, n) w m. For each row r of rows: "
     "mask_backward over its parts in turn (m read from masked[r]), "
     "sums[r] = the parts' sums added in order."},
    {"count_bins", count_bins, METH_VARARGS,
     "count_bins(samples, inverse_spacing, index, counts, threads)\n\n"
     "Bin trunc(|x| * inverse_spacing) of float32 samples: each sample's bin "
     "into the int16 index, the samples per bin into the int64 counts."},
    {"mask_forward", mask_forward, METH_VARARGS,
     "mask_forward(weight, offset, scale, out, threads, point=0, "
     "inverse_bandwidth=0, reflect=False)\n\n"
     "out = w * sigmoid(w * w * scale + offset), float32 or float64; returns "
     "kde_sum(weight, point, inverse_bandwidth, reflect) taken in the same pass "
     "(0 unless inverse_bandwidth > 0)."},
    {"mask_backward", mask_backward, METH_VARARGS,
     "mask_backward(grad, weight, offset, scale, full, grad_weight, threads"
     "[, masked])\n\n"
     "grad_weight = g m (+ 2 scale w^2 m (1 - m) g if full); returns the sums "
     "of s = w g m (1 - m) and of s * logit. Given the forward pass's w m "
     "(masked, which may be grad_weight itself), m is read from it."},
    {"window", window, METH_VARARGS,
     "window(samples, low, high, out, threads)\n\n"
     "One pass over the magnitudes |x|: returns (below, inside, above, largest, "
     "sum, sum of squares), below: |x| < low, inside: low <= |x| < high (written "
     "to out in the samples' order when out holds them all), above: |x| >= high."},
    {"kde_sum", kde_sum, METH_VARARGS,
     "kde_sum(samples, point, inverse_bandwidth, reflect, threads)\n\n"
     "sum over |x| of exp(-((|x| - point) * inverse_bandwidth)^2 / 2), plus the "
     "same at -point when reflect."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels", "The passes over the weight pool, on torch's threads.",
    -1, methods,
};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
