/*
 * A stand-in for the NVIDIA CUDA driver library (libcuda.so.1) on machines without one.
 *
 * Why: the PyPI `legate` wheel links libcuda.so.1 directly, so `import cupynumeric` fails
 * with "libcuda.so.1: cannot open shared object file" on a host with no NVIDIA driver. With
 * this library loaded instead, every entry point reports CUDA_ERROR_NO_DEVICE, Legate's
 * runtime (Realm) logs that GPU discovery failed and carries on with CPU processors only.
 * That is Legate's CPU mode: every cuPyNumeric code path runs, on CPU cores.
 *
 * It is loaded only when no real driver can be found (tensorweaver/_legate.py decides);
 * it must never shadow a real libcuda.so.1 on a GPU host.
 *
 * Build (the soname lets the dynamic loader satisfy legate's `NEEDED libcuda.so.1` with it):
 *     gcc -shared -fPIC -O2 -Wl,-soname,libcuda.so.1 -o libcuda.so.1 libcuda_stand_in.c -ldl
 *
 * Entry points:
 *   - Legate links four symbols directly: cuGetErrorName, cuGetErrorString, cuMemFreeHost,
 *     cuMemFree_v2.
 *   - Realm looks up everything else through cuGetProcAddress(_v2). Those lookups must
 *     *succeed* and hand back a function pointer (Realm asserts on a null one); names not
 *     defined here get a generic function that returns CUDA_ERROR_NO_DEVICE.
 *   - cuInit and cuDeviceGetCount report no device; cuDriverGetVersion succeeds.
 */
#include <stddef.h>
#include <string.h>

typedef int CUresult;
typedef unsigned long long cuuint64_t;
typedef unsigned long long CUdeviceptr;

enum {
    CUDA_SUCCESS = 0,
    CUDA_ERROR_INVALID_VALUE = 1,
    CUDA_ERROR_NO_DEVICE = 100,
};

/* Marker: lets tensorweaver tell this library apart from a real driver. */
const char *tensorweaver_cuda_stand_in(void)
{
    return "tensorweaver CUDA driver stand-in: no NVIDIA driver, every call reports CUDA_ERROR_NO_DEVICE";
}

/* The generic entry point handed out for every name this file does not define. */
static CUresult no_device(void) { return CUDA_ERROR_NO_DEVICE; }

CUresult cuInit(unsigned int flags) { (void)flags; return CUDA_ERROR_NO_DEVICE; }

CUresult cuDriverGetVersion(int *version)
{
    if (version == NULL) return CUDA_ERROR_INVALID_VALUE;
    *version = 13000;  /* CUDA 13.0: what the legate 26.x wheels are built against */
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int *count)
{
    if (count != NULL) *count = 0;
    return CUDA_ERROR_NO_DEVICE;
}

static const char *error_name(CUresult error)
{
    switch (error) {
    case CUDA_SUCCESS: return "CUDA_SUCCESS";
    case CUDA_ERROR_INVALID_VALUE: return "CUDA_ERROR_INVALID_VALUE";
    case CUDA_ERROR_NO_DEVICE: return "CUDA_ERROR_NO_DEVICE";
    default: return "CUDA_ERROR_UNKNOWN";
    }
}

CUresult cuGetErrorName(CUresult error, const char **name)
{
    if (name == NULL) return CUDA_ERROR_INVALID_VALUE;
    *name = error_name(error);
    return CUDA_SUCCESS;
}

CUresult cuGetErrorString(CUresult error, const char **text)
{
    if (text == NULL) return CUDA_ERROR_INVALID_VALUE;
    *text = error == CUDA_ERROR_NO_DEVICE
        ? "no CUDA-capable device is detected (CUDA driver stand-in: no NVIDIA driver on this host)"
        : error_name(error);
    return CUDA_SUCCESS;
}

/* Nothing is ever allocated, so there is nothing to free. */
CUresult cuMemFreeHost(void *p) { (void)p; return CUDA_ERROR_NO_DEVICE; }
CUresult cuMemFree_v2(CUdeviceptr p) { (void)p; return CUDA_ERROR_NO_DEVICE; }

static const struct { const char *name; void *fn; } defined[] = {
    {"cuInit", (void *)cuInit},
    {"cuDriverGetVersion", (void *)cuDriverGetVersion},
    {"cuDeviceGetCount", (void *)cuDeviceGetCount},
    {"cuGetErrorName", (void *)cuGetErrorName},
    {"cuGetErrorString", (void *)cuGetErrorString},
    {"cuMemFreeHost", (void *)cuMemFreeHost},
    {"cuMemFree", (void *)cuMemFree_v2},
    {"cuMemFree_v2", (void *)cuMemFree_v2},
};

static void *lookup(const char *symbol)
{
    if (symbol != NULL)
        for (size_t i = 0; i < sizeof defined / sizeof defined[0]; ++i)
            if (strcmp(symbol, defined[i].name) == 0) return defined[i].fn;
    return (void *)no_device;
}

/* CUDA 11.3-11.x signature; symbolStatus was added in CUDA 12 (the _v2 entry point). */
CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags)
{
    (void)cudaVersion; (void)flags;
    if (pfn == NULL) return CUDA_ERROR_INVALID_VALUE;
    *pfn = lookup(symbol);
    return CUDA_SUCCESS;
}

CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                             int *symbolStatus)
{
    if (symbolStatus != NULL) *symbolStatus = 0;  /* CU_GET_PROC_ADDRESS_SUCCESS */
    return cuGetProcAddress(symbol, pfn, cudaVersion, flags);
}
