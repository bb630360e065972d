/* The image-quality measures' two inner loops, compiled: the grid sample of a decoded image and the
 * integer counts every measure is finished from (quality.py: sample, measure_samples).
 *
 * quality.py holds the definitions and a numpy twin of both functions, used where this module did
 * not build (no C compiler at install); tests/pipeline/test_quality_kernel.py checks that the two give
 * the same numbers. Only the stable ABI (Python 3.11+, buffers): one build serves every Python and
 * numpy version. Every value is an integer, so the results are the same on every CPU.
 */
#define PY_SSIZE_T_CLEAN
#define Py_LIMITED_API 0x030B0000
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Py_RETURN_NONE from Python 3.12's headers does not count the reference (None is immortal there),
 * which a 3.11 interpreter then takes from None: each call, until None is freed and Python aborts. */
#define RETURN_NONE return (Py_INCREF(Py_None), Py_None)

/* A contiguous buffer of `need` items of `item` bytes each (1: uint8, 8: int64), aligned for them,
 * or -1 with a ValueError (BufferError when not contiguous, or read-only where `writable`). */
static int get(PyObject *obj, Py_buffer *view, int writable, int item, Py_ssize_t need, const char *what) {
    if (PyObject_GetBuffer(obj, view, (writable ? PyBUF_CONTIG : PyBUF_CONTIG_RO) | PyBUF_FORMAT) < 0) return -1;
    const char *f = view->format ? view->format : "B";
    if (*f == '@' || *f == '=') f++;
    int typed = view->itemsize == item && f[0] != '\0' && f[1] == '\0' &&
                (item == 1 ? f[0] == 'B' : (f[0] == 'q' || f[0] == 'l')) && (uintptr_t)view->buf % item == 0;
    if (!typed)
        PyErr_Format(PyExc_ValueError, "%s: not an aligned %s array", what, item == 1 ? "uint8" : "int64");
    else if (view->len / item < need)
        PyErr_Format(PyExc_ValueError, "%s: %zd items, %zd needed", what, view->len / item, need);
    if (!typed || view->len / item < need) {
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* gather(rgb, height, width, ys, xs, transpose, out): the points (ys[i], xs[j]) of an H x W x 3
 * uint8 image into out, 3 planes of rows x cols (cols x rows when transpose); ys and xs int64. */
static PyObject *gather(PyObject *self, PyObject *args) {
    PyObject *o_rgb, *o_ys, *o_xs, *o_out;
    Py_ssize_t h, w;
    int transpose;
    if (!PyArg_ParseTuple(args, "OnnOOpO", &o_rgb, &h, &w, &o_ys, &o_xs, &transpose, &o_out)) return NULL;
    Py_buffer rgb, ys, xs, out;
    if (h < 1 || w < 1 || w > PY_SSIZE_T_MAX / 3 / h)
        return PyErr_Format(PyExc_ValueError, "image size %zd x %zd", h, w);
    if (get(o_rgb, &rgb, 0, 1, h * w * 3, "rgb") < 0) return NULL;
    if (get(o_ys, &ys, 0, 8, 0, "ys") < 0) goto fail_rgb;
    if (get(o_xs, &xs, 0, 8, 0, "xs") < 0) goto fail_ys;
    Py_ssize_t rows = ys.len / 8, cols = xs.len / 8;
    if (rows > 0 && cols > PY_SSIZE_T_MAX / 3 / rows) {
        PyErr_SetString(PyExc_ValueError, "grid too large");
        goto fail_xs;
    }
    if (get(o_out, &out, 1, 1, 3 * rows * cols, "out") < 0) goto fail_xs;
    const int64_t *y = ys.buf, *x = xs.buf;
    for (Py_ssize_t i = 0; i < rows; i++)
        if (y[i] < 0 || y[i] >= h) { PyErr_SetString(PyExc_ValueError, "row outside the image"); goto fail; }
    for (Py_ssize_t j = 0; j < cols; j++)
        if (x[j] < 0 || x[j] >= w) { PyErr_SetString(PyExc_ValueError, "column outside the image"); goto fail; }
    const uint8_t *src = rgb.buf;
    uint8_t *dst = out.buf;
    Py_ssize_t plane = rows * cols;
    for (Py_ssize_t i = 0; i < rows; i++) {
        const uint8_t *row = src + y[i] * w * 3;
        for (Py_ssize_t j = 0; j < cols; j++) {
            const uint8_t *p = row + x[j] * 3;
            Py_ssize_t at = transpose ? j * rows + i : i * cols + j;
            dst[at] = p[0];
            dst[plane + at] = p[1];
            dst[2 * plane + at] = p[2];
        }
    }
    PyBuffer_Release(&out);
    PyBuffer_Release(&xs);
    PyBuffer_Release(&ys);
    PyBuffer_Release(&rgb);
    RETURN_NONE;
fail:
    PyBuffer_Release(&out);
fail_xs:
    PyBuffer_Release(&xs);
fail_ys:
    PyBuffer_Release(&ys);
fail_rgb:
    PyBuffer_Release(&rgb);
    return NULL;
}

/* counts(grid, rows, cols, cap, wr, wg, wb, out): for a sample grid (3 planes of rows x cols uint8)
 * into out, int64: the luma histogram (256), the colour-spread histogram (256), the R, G, B sums (3),
 * then over the grid's inner points, by gradient min(g, cap) (cap + 1 bins each): the number of
 * points, the sum of their gradients and the sum of their |Laplacian|. Luma is
 * (wr R + wg G + wb B) >> 16; gradient |dx| + |dy| and Laplacian over the 4 neighbours. */
static PyObject *counts(PyObject *self, PyObject *args) {
    PyObject *o_grid, *o_out;
    Py_ssize_t rows, cols, cap, wr, wg, wb;
    if (!PyArg_ParseTuple(args, "OnnnnnnO", &o_grid, &rows, &cols, &cap, &wr, &wg, &wb, &o_out)) return NULL;
    /* At most 2^20 points keep every count below 2^32 (a sample grid has at most 96 x 96); a cap
     * under 256, the gradient bins within their arrays; weights of 0-65535 summing to at most
     * 65536, luma within 0-255. */
    if (rows < 1 || cols < 1 || rows > (1 << 20) || cols > (1 << 20) || rows * cols > (1 << 20) || cap < 0 ||
        cap > 255 || wr < 0 || wg < 0 || wb < 0 || wr > 65535 || wg > 65535 || wb > 65535 || wr + wg + wb > 65536)
        return PyErr_Format(PyExc_ValueError, "grid %zd x %zd, cap %zd, weights %zd %zd %zd", rows, cols, cap, wr, wg,
                            wb);
    Py_ssize_t n = rows * cols, bins = cap + 1;
    Py_buffer grid, out;
    if (get(o_grid, &grid, 0, 1, 3 * n, "grid") < 0) return NULL;
    if (get(o_out, &out, 1, 8, 515 + 3 * bins, "out") < 0) {
        PyBuffer_Release(&grid);
        return NULL;
    }
    /* Each loop is split in two: the values over a whole grid or row, in narrow types that the
     * compiler vectorises (16-bit operands: the luma's 16 x 16 -> 32-bit products are SSE2, a 32-bit
     * multiply is not), then the counting. Four copies of every count, a point's copy by its place:
     * runs of equal values (flat areas) would otherwise make each increment wait for the previous.
     * One block: a row's gradients and |Laplacians| (uint16, cols each), the grid's luma and colour
     * spread (uint8, n each). */
    uint16_t *grad = PyMem_Malloc(4 * cols + 2 * n);
    if (!grad) {
        PyBuffer_Release(&out);
        PyBuffer_Release(&grid);
        return PyErr_NoMemory();
    }
    uint16_t *lap_abs = grad + cols;
    uint8_t *luma = (uint8_t *)(lap_abs + cols), *spread = luma + n;
    const uint8_t *r = grid.buf, *g = r + n, *b = g + n;
    const uint16_t w0 = (uint16_t)wr, w1 = (uint16_t)wg, w2 = (uint16_t)wb;
    uint32_t sr = 0, sg = 0, sb = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        uint16_t R = r[k], G = g[k], B = b[k];
        uint16_t hi = R > G ? R : G, lo = R < G ? R : G;
        luma[k] = (uint8_t)(((uint32_t)w0 * R + (uint32_t)w1 * G + (uint32_t)w2 * B) >> 16);
        spread[k] = (uint8_t)((hi > B ? hi : B) - (lo < B ? lo : B));
        sr += R;
        sg += G;
        sb += B;
    }
    uint32_t hist[4][256] = {{0}}, spreads[4][256] = {{0}};
    Py_ssize_t k = 0;
    for (; k + 3 < n; k += 4)
        for (int c = 0; c < 4; c++) {
            hist[c][luma[k + c]]++;
            spreads[c][spread[k + c]]++;
        }
    for (; k < n; k++) {
        hist[0][luma[k]]++;
        spreads[0][spread[k]]++;
    }
    int64_t *o = out.buf;
    memset(o, 0, sizeof(int64_t) * (515 + 3 * bins));
    for (int v = 0; v < 256; v++) {
        o[v] = (int64_t)hist[0][v] + hist[1][v] + hist[2][v] + hist[3][v];
        o[256 + v] = (int64_t)spreads[0][v] + spreads[1][v] + spreads[2][v] + spreads[3][v];
    }
    o[512] = sr;
    o[513] = sg;
    o[514] = sb;
    /* By gradient bin: the points and their |Laplacian| sums; a bin below the cap holds one
     * gradient value, so only the cap's gradient sum is counted. */
    uint32_t found[4][256] = {{0}}, laps[4][256] = {{0}}, capped = 0;
    const unsigned int top = (unsigned int)cap;
    for (Py_ssize_t i = 1; i + 1 < rows; i++) {
        const uint8_t *up = luma + (i - 1) * cols, *mid = luma + i * cols, *down = luma + (i + 1) * cols;
        for (Py_ssize_t j = 1; j + 1 < cols; j++) {
            int16_t dx = (int16_t)((int16_t)mid[j + 1] - (int16_t)mid[j - 1]);
            int16_t dy = (int16_t)((int16_t)down[j] - (int16_t)up[j]);
            int16_t lap = (int16_t)((int16_t)mid[j - 1] + (int16_t)mid[j + 1] + (int16_t)up[j] + (int16_t)down[j] -
                                    (int16_t)(4 * mid[j]));
            grad[j] = (uint16_t)((dx < 0 ? -dx : dx) + (dy < 0 ? -dy : dy));
            lap_abs[j] = (uint16_t)(lap < 0 ? -lap : lap);
        }
        Py_ssize_t j = 1;
        for (; j + 4 < cols; j += 4)
            for (int c = 0; c < 4; c++) {
                unsigned int gv = grad[j + c], bin = gv < top ? gv : top;
                found[c][bin]++;
                laps[c][bin] += lap_abs[j + c];
                capped += gv >= top ? gv : 0;
            }
        for (; j + 1 < cols; j++) {
            unsigned int gv = grad[j], bin = gv < top ? gv : top;
            found[0][bin]++;
            laps[0][bin] += lap_abs[j];
            capped += gv >= top ? gv : 0;
        }
    }
    int64_t *counted = o + 515, *grads = counted + bins, *lap_sums = grads + bins;
    for (Py_ssize_t v = 0; v < bins; v++) {
        counted[v] = (int64_t)found[0][v] + found[1][v] + found[2][v] + found[3][v];
        grads[v] = v < cap ? v * counted[v] : (int64_t)capped;
        lap_sums[v] = (int64_t)laps[0][v] + laps[1][v] + laps[2][v] + laps[3][v];
    }
    PyMem_Free(grad);
    PyBuffer_Release(&out);
    PyBuffer_Release(&grid);
    RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"gather", gather, METH_VARARGS, "gather(rgb, height, width, ys, xs, transpose, out): the grid sample."},
    {"counts", counts, METH_VARARGS, "counts(grid, rows, cols, cap, wr, wg, wb, out): a sample's integer counts."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_quality", NULL, 0, methods};

PyMODINIT_FUNC PyInit__quality(void) { return PyModule_Create(&module); }
