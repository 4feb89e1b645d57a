# R's cluster::pam on Kestrel's benchmark matrices, from the same initial medoids.
# usage: Rscript kmedoids_r_pam.R <dir> <n> <k> <pamonce>...
# reads <dir>/kmedoids_n<n>.bin (n*n doubles, row-major = column-major: symmetric) and
# <dir>/kmedoids_n<n>_k<k>.init (1-based medoids); prints CSV lines n,k,pamonce,seconds,loss
# where seconds is the SWAP phase (BUILD is skipped by passing the medoids) and loss the
# sum of dissimilarities (pam reports the mean). pamonce 0, 3, 4, 6: original PAM, FastPAM1,
# FastPAM2, FasterPAM.
suppressPackageStartupMessages(library(cluster))
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]; n <- as.integer(args[2]); k <- as.integer(args[3]); pamonce <- as.integer(args[-(1:3)])
x <- readBin(file.path(dir, sprintf("kmedoids_n%d.bin", n)), "double", n * n)
d <- as.dist(matrix(x, n, n))
rm(x)
init <- scan(file.path(dir, sprintf("kmedoids_n%d_k%d.init", n, k)), quiet = TRUE)
for (p in pamonce) {
  t <- system.time(fit <- pam(d, k, medoids = init, do.swap = TRUE, pamonce = p, keep.diss = FALSE,
                              keep.data = FALSE, cluster.only = FALSE))[["elapsed"]]
  cat(sprintf("%d,%d,%d,%.4f,%.10g\n", n, k, p, t, fit$objective[["swap"]] * n))
}
