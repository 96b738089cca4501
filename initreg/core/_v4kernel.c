/* initreg.core._v4kernel: the compiled v4 fills (CPython C API and the buffer protocol only; no NumPy headers).
 *
 * fill(op, key, start, out, kind, p0=0, p1=0, p2=0, p3=0, ilow=0, ispan_m1=0) writes elements
 * [start, start + n) of the stream with Philox key words key = (k0, k1, k2, k3) into the writable C-contiguous
 * buffer out (n = its length in elements of `kind`), with the GIL released for the whole range, so Python
 * threads may fill disjoint ranges of one array at once.  The codes for op and kind are _v4fill.h's; the
 * Python side (v4_backend.py) maps names and dtypes to them.  The values are v4.h's, bit for bit the
 * reference's (v4_reference.py).
 *
 * Build flags: -O3 -ffp-contract=off -fno-fast-math (setup.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_v4fill.h"

#if defined(__linux__)
#include <sys/mman.h>
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#endif

/* Map the whole pages of a large output in one call before filling it: a fresh 4 KB-page buffer (JAX's leaves,
 * torch's tensors) then takes one fault walk instead of a fault per page (about 1/3 less system time). Errors
 * (an older kernel's EINVAL) only mean the pages fault in as the fill writes them; values are never touched. */
static void prefault(void* buf, Py_ssize_t len) {
#if defined(__linux__)
    uintptr_t lo = ((uintptr_t)buf + 4095u) & ~(uintptr_t)4095u;              /* whole pages only: the bytes */
    uintptr_t hi = ((uintptr_t)buf + (uintptr_t)len) & ~(uintptr_t)4095u;     /* around them are not ours */
    if (len >= (1 << 16) && hi > lo) (void)madvise((void*)lo, hi - lo, MADV_POPULATE_WRITE);
#else
    (void)buf; (void)len;
#endif
}

static int parse_key(PyObject* obj, v4_u32* key) {
    PyObject* seq = PySequence_Fast(obj, "key must be a sequence of 4 ints (uint32)");
    Py_ssize_t i;
    if (seq == NULL) return -1;
    if (PySequence_Fast_GET_SIZE(seq) != 4) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "key must have 4 words");
        return -1;
    }
    for (i = 0; i < 4; ++i) {
        unsigned long long w = PyLong_AsUnsignedLongLong(PySequence_Fast_GET_ITEM(seq, i));
        if (w == (unsigned long long)-1 && PyErr_Occurred()) { Py_DECREF(seq); return -1; }
        if (w > 0xffffffffULL) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "key words must be < 2**32");
            return -1;
        }
        key[i] = (v4_u32)w;
    }
    Py_DECREF(seq);
    return 0;
}

static int get_out(PyObject* out, Py_buffer* view, Py_ssize_t itemsize, Py_ssize_t* n) {
    if (PyObject_GetBuffer(out, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (view->itemsize != itemsize || view->len % itemsize) {
        PyErr_Format(PyExc_ValueError, "out has items of %zd bytes, this kind needs %zd", view->itemsize, itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    *n = view->len / itemsize;
    return 0;
}

static PyObject* py_fill(PyObject* self, PyObject* args, PyObject* kw) {
    static char* names[] = {"op", "key", "start", "out", "kind", "p0", "p1", "p2", "p3", "ilow", "ispan_m1", NULL};
    int op, kind;
    PyObject *keyobj, *out;
    unsigned long long start, ilow = 0, ispan = 0;
    double p0 = 0.0, p1 = 0.0, p2 = 0.0, p3 = 0.0;
    v4_u32 key[4];
    v4_params P;
    Py_buffer view;
    Py_ssize_t n;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iOKOi|ddddKK", names, &op, &keyobj, &start, &out, &kind, &p0, &p1,
                                     &p2, &p3, &ilow, &ispan))
        return NULL;
    if (parse_key(keyobj, key) < 0) return NULL;
    if (v4_setup(&P, op, kind, key, p0, p1, p2, p3, ilow, ispan) < 0) {
        PyErr_Format(PyExc_ValueError, "operation %d cannot fill kind %d", op, kind);
        return NULL;
    }
    if (get_out(out, &view, v4_kind_size[kind], &n) < 0) return NULL;
    if ((unsigned long long)n > ~0ULL - 8 - start) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_OverflowError, "start + size must stay below 2**64");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    prefault(view.buf, view.len);
    v4_fill(&P, (v4_u64)start, (v4_u64)n, view.buf);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

/* fill_runs(op, key, runs, length, out, kind, ...): out holds len(runs) runs of `length` elements each, run i being
 * elements [runs[i], runs[i] + length) of the stream: a strided region (a column shard) in one call, GIL released. */
static PyObject* py_fill_runs(PyObject* self, PyObject* args, PyObject* kw) {
    static char* names[] = {"op", "key", "runs", "length", "out", "kind", "p0", "p1", "p2", "p3", "ilow", "ispan_m1",
                            NULL};
    int op, kind;
    PyObject *keyobj, *runsobj, *out;
    unsigned long long length, ilow = 0, ispan = 0;
    double p0 = 0.0, p1 = 0.0, p2 = 0.0, p3 = 0.0;
    v4_u32 key[4];
    v4_params P;
    Py_buffer view, rview;
    Py_ssize_t n, nruns, i;
    const unsigned long long* runs;
    size_t isz;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iOOKOi|ddddKK", names, &op, &keyobj, &runsobj, &length, &out, &kind,
                                     &p0, &p1, &p2, &p3, &ilow, &ispan))
        return NULL;
    if (parse_key(keyobj, key) < 0) return NULL;
    if (v4_setup(&P, op, kind, key, p0, p1, p2, p3, ilow, ispan) < 0) {
        PyErr_Format(PyExc_ValueError, "operation %d cannot fill kind %d", op, kind);
        return NULL;
    }
    if (get_out(runsobj, &rview, 8, &nruns) < 0) return NULL;
    if (get_out(out, &view, v4_kind_size[kind], &n) < 0) { PyBuffer_Release(&rview); return NULL; }
    runs = (const unsigned long long*)rview.buf;
    if ((unsigned long long)n != (unsigned long long)nruns * length) {
        PyBuffer_Release(&view);
        PyBuffer_Release(&rview);
        PyErr_SetString(PyExc_ValueError, "out must hold len(runs) * length elements");
        return NULL;
    }
    for (i = 0; i < nruns; ++i) {
        if (runs[i] > ~0ULL - 8 - length) {
            PyBuffer_Release(&view);
            PyBuffer_Release(&rview);
            PyErr_SetString(PyExc_OverflowError, "run start + length must stay below 2**64");
            return NULL;
        }
    }
    isz = (size_t)v4_kind_size[kind];
    Py_BEGIN_ALLOW_THREADS
    prefault(view.buf, view.len);
    for (i = 0; i < nruns; ++i) v4_fill(&P, (v4_u64)runs[i], (v4_u64)length, (char*)view.buf + (size_t)i * length * isz);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyBuffer_Release(&rview);
    Py_RETURN_NONE;
}

static PyObject* py_truncnorm_setup(PyObject* self, PyObject* args) {
    double a, b, p[10];
    (void)self;
    if (!PyArg_ParseTuple(args, "dd", &a, &b)) return NULL;
    v4_truncnorm_setup(a, b, p);
    return Py_BuildValue("(dddddddddd)", p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9]);
}

static PyObject* py_uniform_clamp(PyObject* self, PyObject* args) {
    double low, high;
    int kind;
    (void)self;
    if (!PyArg_ParseTuple(args, "ddi", &low, &high, &kind)) return NULL;
    if (kind < V4_F64 || kind > V4_BF16) { PyErr_SetString(PyExc_ValueError, "kind must be a float kind"); return NULL; }
    return PyFloat_FromDouble(v4_uniform_clamp(low, high, kind));
}

static PyObject* py_bernoulli_threshold(PyObject* self, PyObject* args) {
    double p;
    (void)self;
    if (!PyArg_ParseTuple(args, "d", &p)) return NULL;
    return PyLong_FromUnsignedLongLong(v4_bernoulli_threshold(p));
}

/* philox(key, j0, out, impl=None): the words of calls j0, j0+1, ... into a uint32 buffer (4 per call, in call
 * order) with the named batch implementation ("avx512", "avx2", "c"; None: the one the fills use) */
static PyObject* py_philox(PyObject* self, PyObject* args) {
    PyObject *keyobj, *out;
    unsigned long long j0;
    const char* impl = NULL;
    v4_u32 key[4];
    Py_buffer view;
    Py_ssize_t n, i;
    v4_philox_batch_fn fn;
    (void)self;
    if (!PyArg_ParseTuple(args, "OKO|z", &keyobj, &j0, &out, &impl)) return NULL;
    if (parse_key(keyobj, key) < 0) return NULL;
    fn = impl == NULL ? v4_philox_batch : v4_philox_impl(impl);
    if (fn == NULL) { PyErr_Format(PyExc_ValueError, "Philox implementation %s is not available here", impl); return NULL; }
    if (get_out(out, &view, 4, &n) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS
    {
        v4_u32 x[4][V4_M];
        v4_u32* o = (v4_u32*)view.buf;
        Py_ssize_t calls = n / 4;
        for (i = 0; i < calls; i += V4_M) {
            int m = (int)(calls - i < V4_M ? calls - i : V4_M), c, r;
            fn(j0 + (v4_u64)i, m, key, x);
            for (c = 0; c < m; ++c)
                for (r = 0; r < 4; ++r) o[4 * (i + c) + r] = x[r][c];
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyObject* py_philox_impls(PyObject* self, PyObject* noargs) {
    static const char* names[] = {"avx512", "avx2", "c"};
    PyObject* lst = PyList_New(0);
    int i;
    (void)self; (void)noargs;
    if (lst == NULL) return NULL;
    for (i = 0; i < 3; ++i) {
        if (v4_philox_impl(names[i]) != NULL) {
            PyObject* s = PyUnicode_FromString(names[i]);
            if (s == NULL || PyList_Append(lst, s) < 0) { Py_XDECREF(s); Py_DECREF(lst); return NULL; }
            Py_DECREF(s);
        }
    }
    return lst;
}

/* elementary(name, x, out[, out2]): one of v4.h's functions elementwise, for the tests.
 * double -> double: log, exp, phi_neg, log_phi_far, ndtri_low, ndtri_log_far;
 * uint64 -> (double, double): sincos2pi (out = sin, out2 = cos);
 * float32 -> uint16: f32_to_f16, f32_to_bf16; uint16 -> float32: f16_to_f32. */
static PyObject* py_elementary(PyObject* self, PyObject* args) {
    const char* name;
    PyObject *xin, *out, *out2 = NULL;
    Py_buffer vx, vo, vo2;
    Py_ssize_t n, i;
    int fn;
    (void)self;
    if (!PyArg_ParseTuple(args, "sOO|O", &name, &xin, &out, &out2)) return NULL;
    if (!strcmp(name, "log")) fn = 0;
    else if (!strcmp(name, "exp")) fn = 1;
    else if (!strcmp(name, "phi_neg")) fn = 2;
    else if (!strcmp(name, "log_phi_far")) fn = 3;
    else if (!strcmp(name, "ndtri_low")) fn = 4;
    else if (!strcmp(name, "ndtri_log_far")) fn = 5;
    else if (!strcmp(name, "sincos2pi")) fn = 6;
    else if (!strcmp(name, "f32_to_f16")) fn = 7;
    else if (!strcmp(name, "f32_to_bf16")) fn = 8;
    else if (!strcmp(name, "f16_to_f32")) fn = 9;
    else { PyErr_Format(PyExc_ValueError, "unknown function %s", name); return NULL; }
    if (PyObject_GetBuffer(xin, &vx, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    {
        Py_ssize_t insz = fn <= 6 ? 8 : (fn <= 8 ? 4 : 2);
        Py_ssize_t outsz = fn <= 6 ? 8 : (fn <= 8 ? 2 : 4);
        if (vx.itemsize != insz) {
            PyBuffer_Release(&vx);
            PyErr_SetString(PyExc_ValueError, "wrong input item size");
            return NULL;
        }
        if (get_out(out, &vo, outsz, &n) < 0) { PyBuffer_Release(&vx); return NULL; }
        if (n != vx.len / insz) {
            PyBuffer_Release(&vx); PyBuffer_Release(&vo);
            PyErr_SetString(PyExc_ValueError, "input and output lengths differ");
            return NULL;
        }
        if (fn == 6) {
            Py_ssize_t n2;
            if (out2 == NULL) {
                PyBuffer_Release(&vx); PyBuffer_Release(&vo);
                PyErr_SetString(PyExc_TypeError, "sincos2pi needs two outputs");
                return NULL;
            }
            if (get_out(out2, &vo2, 8, &n2) < 0) { PyBuffer_Release(&vx); PyBuffer_Release(&vo); return NULL; }
            if (n2 != n) {
                PyBuffer_Release(&vx); PyBuffer_Release(&vo); PyBuffer_Release(&vo2);
                PyErr_SetString(PyExc_ValueError, "output lengths differ");
                return NULL;
            }
        }
    }
    Py_BEGIN_ALLOW_THREADS
    {
        const double* xd = (const double*)vx.buf;
        double* od = (double*)vo.buf;
        switch (fn) {
        case 0: for (i = 0; i < n; ++i) od[i] = v4_log(xd[i]); break;
        case 1: for (i = 0; i < n; ++i) od[i] = v4_exp(xd[i]); break;
        case 2: for (i = 0; i < n; ++i) od[i] = v4_phi_neg(xd[i]); break;
        case 3: for (i = 0; i < n; ++i) od[i] = v4_log_phi_far(xd[i]); break;
        case 4: for (i = 0; i < n; ++i) od[i] = v4_ndtri_low(xd[i]); break;
        case 5: for (i = 0; i < n; ++i) od[i] = v4_ndtri_log_far(xd[i]); break;
        case 6: {
            const v4_u64* xu = (const v4_u64*)vx.buf;
            double* oc = (double*)vo2.buf;
            for (i = 0; i < n; ++i) v4_sincos2pi(xu[i], od + i, oc + i);
            break;
        }
        case 7: for (i = 0; i < n; ++i) ((v4_u16*)vo.buf)[i] = v4_f32_to_f16(((const float*)vx.buf)[i]); break;
        case 8: for (i = 0; i < n; ++i) ((v4_u16*)vo.buf)[i] = v4_f32_to_bf16(((const float*)vx.buf)[i]); break;
        case 9: for (i = 0; i < n; ++i) ((float*)vo.buf)[i] = v4_f16_to_f32(((const v4_u16*)vx.buf)[i]); break;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&vx);
    PyBuffer_Release(&vo);
    if (fn == 6) PyBuffer_Release(&vo2);
    Py_RETURN_NONE;
}

/* all_finite(arr): whether no element of a C-contiguous float16/32/64 buffer is NaN or infinite (exponent all
 * ones). Not bit-defining: the check a small fill's output gets, without NumPy's temporary and two ufunc calls */
#define V4_FINITE_SCAN(T, MASK)                                                    \
    {                                                                              \
        const T* p = (const T*)v.buf;                                              \
        Py_ssize_t n = v.len / (Py_ssize_t)sizeof(T), i;                           \
        int bad = 0;                                                               \
        for (i = 0; i < n; ++i) bad |= (p[i] & (MASK)) == (MASK);                  \
        ok = !bad;                                                                 \
    }

static PyObject* py_all_finite(PyObject* self, PyObject* arg) {
    Py_buffer v;
    int ok = 1;
    (void)self;
    if (PyObject_GetBuffer(arg, &v, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    if (v.itemsize == 8) V4_FINITE_SCAN(v4_u64, 0x7ff0000000000000ULL)
    else if (v.itemsize == 4) V4_FINITE_SCAN(v4_u32, 0x7f800000U)
    else if (v.itemsize == 2) V4_FINITE_SCAN(v4_u16, 0x7c00U)
    else {
        PyErr_Format(PyExc_ValueError, "all_finite takes float16, float32 or float64 items, not %zd bytes", v.itemsize);
        PyBuffer_Release(&v);
        return NULL;
    }
    PyBuffer_Release(&v);
    return PyBool_FromLong(ok);
}

static PyMethodDef methods[] = {
    {"fill", (PyCFunction)(void (*)(void))py_fill, METH_VARARGS | METH_KEYWORDS,
     "fill(op, key, start, out, kind, p0=0, p1=0, p2=0, p3=0, ilow=0, ispan_m1=0): elements [start, start+len) "
     "of a stream into out, GIL released"},
    {"fill_runs", (PyCFunction)(void (*)(void))py_fill_runs, METH_VARARGS | METH_KEYWORDS,
     "fill_runs(op, key, runs, length, out, kind, ...): len(runs) runs of length elements, run i from runs[i]"},
    {"truncnorm_setup", py_truncnorm_setup, METH_VARARGS, "truncnorm_setup(a, b) -> the 10 interval parameters"},
    {"uniform_clamp", py_uniform_clamp, METH_VARARGS, "uniform_clamp(low, high, kind) -> the clamp before the last rounding"},
    {"bernoulli_threshold", py_bernoulli_threshold, METH_VARARGS, "bernoulli_threshold(p) -> ceil(p * 2**53) in [0, 2**53]"},
    {"philox", py_philox, METH_VARARGS, "philox(key, j0, out, impl=None): Philox4x32-10 words of calls j0.. into a uint32 buffer"},
    {"philox_impls", py_philox_impls, METH_NOARGS, "philox_impls() -> the Philox batch implementations this CPU runs"},
    {"all_finite", py_all_finite, METH_O, "all_finite(arr) -> whether no float16/32/64 element is NaN or infinite"},
    {"elementary", py_elementary, METH_VARARGS, "elementary(name, x, out[, out2]): a v4.h function elementwise (tests)"},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "initreg.core._v4kernel",
    "The compiled initreg v4 fills (initreg/core/v4.h); use initreg.core.v4_backend.", -1, methods,
    NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC PyInit__v4kernel(void) {
    PyObject* m;
    v4_init();
    m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddStringConstant(m, "ALGORITHM", "initreg-philox-v4") < 0) { Py_DECREF(m); return NULL; }
    return m;
}
