# R's cluster::pam on Kestrel's benchmark matrices, from the same initial medoids.
# usage: Rscript kmedoids_r_pam.R <dir> <n> <k> <reps> <pamonce>...
# Reads <dir>/kmedoids_n<n>.bin (n*n doubles, row-major = column-major: symmetric) and
# <dir>/kmedoids_n<n>_k<k>.init (1-based medoids). For each pamonce (0, 3, 4, 6: original
# PAM, FastPAM1, FastPAM2, FasterPAM) it times, <reps> times:
#   whole:   pam(d, k, medoids = init, pamonce = p), the call a user makes (BUILD skipped
#            because the medoids are given; everything else pam does: checks, rearranging
#            the dissimilarities for its C code, SWAP, cluster statistics, silhouette widths);
#   swap, noswap: the .Call into pam's C code that pam() makes, with do.swap = TRUE and with
#            do.swap = FALSE (same matrix, same start). pam()'s R prologue before that call
#            (anyNA, the lower.to.upper.tri.inds rearrangement, c(0, dv): seconds at n = 5000)
#            is identical with and without SWAP, so it is prepared once, outside the timing,
#            exactly as pam() prepares it; swap - noswap is R's SWAP alone, without the noise
#            of timing that prologue twice.
# Prints CSV lines  n,k,pamonce,rep,whole_s,whole_cpu_s,swap_cpu_s,noswap_cpu_s,loss
# (whole_s is wall time; *_cpu_s are CPU times of the R process, user + system: pam runs on
# one thread, and on a shared machine the CPU time is what another process's load does not
# inflate), where loss is the sum of dissimilarities after SWAP (pam reports the mean).
suppressPackageStartupMessages(library(cluster))
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]; n <- as.integer(args[2]); k <- as.integer(args[3]); reps <- as.integer(args[4])
pamonce <- as.integer(args[-(1:4)])
x <- readBin(file.path(dir, sprintf("kmedoids_n%d.bin", n)), "double", n * n)
d <- as.dist(matrix(x, n, n))
rm(x); invisible(gc())
init <- as.integer(scan(file.path(dir, sprintf("kmedoids_n%d_k%d.init", n, k)), quiet = TRUE))
# What pam() hands its C code for a "dist" argument (cluster 2.1.4, R/pam.q).
dv <- c(0, d[cluster:::lower.to.upper.tri.inds(n)])
storage.mode(dv) <- "double"
c_pam <- function(p, swap)
  .Call(cluster:::cl_Pam, k, n, FALSE, dv, TRUE, init, swap, 0L, FALSE, p, double(1), integer(1), 0L)
cpu <- function(t) t[["user.self"]] + t[["sys.self"]]
# One untimed small call first: the first pam() of a process pays for loading its code.
invisible(pam(dist(seq_len(20)), 2L))
for (p in pamonce) {
  for (r in seq_len(reps)) {
    invisible(gc())
    tw <- system.time(fit <- pam(d, k, medoids = init, pamonce = p))
    # Alternate which C call goes first: a slow phase of a shared host then hits both.
    if (r %% 2 == 1) {
      ts <- system.time(res <- c_pam(p, TRUE))
      tn <- system.time(c_pam(p, FALSE))
    } else {
      tn <- system.time(c_pam(p, FALSE))
      ts <- system.time(res <- c_pam(p, TRUE))
    }
    if (!identical(res$med, fit$id.med)) stop("the C call and pam() disagree")
    cat(sprintf("%d,%d,%d,%d,%.4f,%.4f,%.4f,%.4f,%.10g\n", n, k, p, r, tw[["elapsed"]], cpu(tw), cpu(ts), cpu(tn),
                fit$objective[["swap"]] * n))
  }
}
