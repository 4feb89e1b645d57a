/* Peer: SUNDIALS KINSOL's fixed-point solver with Anderson acceleration (KIN_FP, KINSetMAA)
 * on the two problems of benchmarks/fixed_point_anderson.cpp, written again here in C with
 * the same discretization, start (u0 = 0) and stopping rule:
 *   poisson N   Jacobi map of the shifted 2-D Poisson problem, spectral radius 0.99,
 *               stop at ||G(u) - u||_2 <= 1e-6 ||G(u0) - u0||_2
 *   bratu N     one damped (0.8) nonlinear Jacobi sweep of 2-D Bratu, lambda = 6,
 *               stop at ||G(u) - u||_2 <= 1e-8 ||G(u0) - u0||_2
 * KINSOL's own test is a scaled max norm; to count iterations by Kestrel's 2-norm test, the
 * callback computes ||G(u) - u||_2 for every u it is given and, once the test passes, returns
 * -1 (an unrecoverable callback error), which ends KINSol. The iteration count is the number
 * of the call that passed (call 0 is G(u0)). Time inside the callback (G and that norm) is
 * measured around every call and subtracted: "beyond G" is KINSOL's own work. Times are CPU
 * seconds of the one thread (the machine is shared; Kestrel's benchmark measures the same way).
 * usage: fixed_point_kinsol poisson|bratu N m  ->  one CSV line
 *   problem,n,m,iterations,converged,total_s,g_s_per_call,beyond_g_s_per_iteration,ns_per_unknown */
#include <kinsol/kinsol.h>
#include <nvector/nvector_serial.h>
#include <sundials/sundials_context.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    int bratu;
    long N;
    double c, h2l, rtol, tol, g_seconds;
    long calls, passed_at;
    double* zeros;
} problem;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); /* serial: CPU time, not inflated by other load */
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void poisson_map(const problem* p, const double* x, double* g) {
    const long N = p->N;
    for (long i = 0; i < N; ++i) {
        const double* up = i > 0 ? x + (i - 1) * N : p->zeros;
        const double* dn = i + 1 < N ? x + (i + 1) * N : p->zeros;
        const double* row = x + i * N;
        double* out = g + i * N;
        out[0] = p->c * (1.0 + row[1] + up[0] + dn[0]);
        for (long j = 1; j + 1 < N; ++j) out[j] = p->c * (1.0 + row[j - 1] + row[j + 1] + up[j] + dn[j]);
        out[N - 1] = p->c * (1.0 + row[N - 2] + up[N - 1] + dn[N - 1]);
    }
}

static void bratu_map(const problem* p, const double* x, double* g) {
    const long N = p->N;
    for (long i = 0; i < N * N; ++i) g[i] = exp(x[i]);
    for (long r = 0; r < N; ++r) {
        const double* up = r > 0 ? x + (r - 1) * N : p->zeros;
        const double* dn = r + 1 < N ? x + (r + 1) * N : p->zeros;
        const double* row = x + r * N;
        double* out = g + r * N;
        for (long j = 0; j < N; ++j) {
            const double left = j > 0 ? row[j - 1] : 0.0, right = j + 1 < N ? row[j + 1] : 0.0;
            out[j] = 0.2 * row[j] + 0.2 * (left + right + up[j] + dn[j] + p->h2l * out[j]);
        }
    }
}

static int callback(N_Vector u, N_Vector gu, void* data) {
    problem* p = (problem*)data;
    const double t0 = now();
    const double* x = N_VGetArrayPointer(u);
    double* g = N_VGetArrayPointer(gu);
    const long n = p->N * p->N;
    if (p->bratu)
        bratu_map(p, x, g);
    else
        poisson_map(p, x, g);
    double s = 0.0;
    for (long i = 0; i < n; ++i) s += (g[i] - x[i]) * (g[i] - x[i]);
    const double r = sqrt(s);
    if (p->calls == 0) p->tol = p->rtol * r;
    const int done = r <= p->tol && p->passed_at < 0;
    if (done) p->passed_at = p->calls;
    ++p->calls;
    p->g_seconds += now() - t0;
    return done ? -1 : 0;
}

int main(int argc, char** argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s poisson|bratu N m\n", argv[0]);
        return 2;
    }
    problem p;
    memset(&p, 0, sizeof p);
    p.bratu = strcmp(argv[1], "bratu") == 0;
    p.N = atol(argv[2]);
    const long m = atol(argv[3]);
    const double h = 1.0 / (double)(p.N + 1);
    p.c = 1.0 / (4.0 + (4.0 * cos(M_PI * h) / 0.99 - 4.0));
    p.h2l = h * h * 6.0;
    p.rtol = p.bratu ? 1e-8 : 1e-6;
    p.passed_at = -1;
    p.zeros = calloc((size_t)p.N, sizeof(double));
    const long n = p.N * p.N;

    SUNContext ctx;
    if (SUNContext_Create(NULL, &ctx)) return 1;
    N_Vector u = N_VNew_Serial(n, ctx), scale = N_VNew_Serial(n, ctx);
    N_VConst(0.0, u);
    N_VConst(1.0, scale);
    void* kin = KINCreate(ctx);
    KINSetErrFile(kin, NULL); /* the callback's -1 is how a run ends: no error message for it */
    KINSetMAA(kin, m);  /* before KINInit: sizes the Anderson history */
    KINInit(kin, callback, u);
    KINSetUserData(kin, &p);
    KINSetFuncNormTol(kin, 1e-300);  /* never stops on its own test: the callback decides */
    KINSetNumMaxIters(kin, 1000000);
    const double t0 = now();
    KINSol(kin, u, KIN_FP, scale, scale);
    const double total = now() - t0;
    const long iterations = p.passed_at >= 0 ? p.passed_at : p.calls - 1;
    const double beyond = (total - p.g_seconds) / (double)(iterations > 0 ? iterations : 1);
    printf("%s,%ld,%ld,%ld,%d,%.6g,%.6g,%.6g,%.6g\n", p.bratu ? "bratu" : "poisson", n, m, iterations,
           p.passed_at >= 0, total, p.g_seconds / (double)(p.calls > 0 ? p.calls : 1), beyond, beyond / (double)n * 1e9);
    KINFree(&kin);
    N_VDestroy(u);
    N_VDestroy(scale);
    SUNContext_Free(&ctx);
    free(p.zeros);
    return 0;
}
