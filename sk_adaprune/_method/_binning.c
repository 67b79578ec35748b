/* The bin counting behind the threshold and the density, on all of torch's
 * threads.
 *
 * count_bins(samples, inverse_spacing, index, counts, threads) writes the bin
 * trunc(|x| * inverse_spacing) of every float32 sample into the int16 buffer
 * `index` and the number of samples in each bin into the int64 buffer
 * `counts`: what numpy's multiply-and-truncate and torch.bincount compute in
 * density.py, bit for bit, in one pass and in parallel. The product is
 * taken in float32, as numpy takes it, and |x| * s equals |x * s| exactly.
 * A sample past the last bin (only NaN or infinity can be) counts in the last.
 *
 * OpenMP is the runtime torch's CPU build already loaded, so these threads
 * are torch's own: a second pool of threads would compete with torch's for
 * the cores.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

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

/* A C-contiguous buffer of `object` whose items are `itemsize` bytes of the
 * given kind: 'f' float, 'i' signed integer. */
static int get_buffer(PyObject *object, Py_buffer *view, int writable, char kind,
                      Py_ssize_t itemsize, const char *name)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(object, view, flags) < 0) return -1;
    const char *format = view->format == NULL ? "B" : view->format;
    if (*format == '@' || *format == '=' || *format == '<') format++;
    int matches = view->itemsize == itemsize && format[0] != '\0' && format[1] == '\0' &&
                  (kind == 'f' ? *format == 'f' : strchr("hilq", *format) != NULL);
    if (!matches) {
        PyErr_Format(PyExc_TypeError, "count_bins: %s must hold %s%d, got format '%s'.", name,
                     kind == 'f' ? "float" : "int", (int)(8 * itemsize), view->format);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
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
    if (get_buffer(samples_object, &samples, 0, 'f', 4, "samples") < 0) return NULL;
    if (get_buffer(index_object, &index, 1, 'i', 2, "index") < 0) {
        PyBuffer_Release(&samples);
        return NULL;
    }
    if (get_buffer(counts_object, &counts, 1, 'i', 8, "counts") < 0) {
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

static PyMethodDef methods[] = {
    {"count_bins", count_bins, METH_VARARGS,
     "count_bins(samples, inverse_spacing, index, counts, threads)\n\n"
     "Bin trunc(|x| * inverse_spacing) of float32 samples: each sample's bin "
     "into the int16 index, the samples per bin into the int64 counts."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_binning", "Bin counting on torch's threads.", -1, methods,
};

PyMODINIT_FUNC PyInit__binning(void) { return PyModule_Create(&module); }
