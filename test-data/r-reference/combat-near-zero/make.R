#!/usr/bin/env Rscript
# sva's ComBat on two real miRNA batches, without the miRNAs whose counts are all zero in one batch.
#
# Usage (from the repository root):
#   Rscript test-data/r-reference/combat-near-zero/make.R \
#     ../shared/data/real/mouse-plasma-ev-mirna-wildfire test-data/r-reference/combat-near-zero
# R 4.2.2, edgeR 3.40.2, sva 3.46.0 (the R of ../shared/peers/setup.sh). 10 significant digits.
#
# Data: the 237 miRNAs present in both batch files (batch0_…: 21 samples, batch1_…: 9 samples),
# the 30 samples' Batch and Treatment from microRNAseq_ID_summaries_032821.csv (Keep rows).
# log-CPM: cpm(calcNormFactors(DGEList(counts)), log = TRUE, prior.count = 2) over the 237 miRNAs
# (TMM defaults). A miRNA with all counts zero in a batch has a log-CPM that is the same number
# in every sample of that batch up to rounding (within-batch variance ~1e-30, not exactly 0), so
# sva's own zero-variance guard (var(x) == 0) misses it. Those miRNAs are removed here, and sva's
# ComBat(par.prior = TRUE, mean.only = FALSE) runs on the others with mod = model.matrix(~Treatment).
suppressPackageStartupMessages({ library(edgeR); library(sva) })
a <- commandArgs(trailingOnly = TRUE)
if (length(a) != 2) stop("usage: make.R <wildfire folder> <output folder>")
d <- a[1]; out <- a[2]
rd <- function(f) { x <- read.csv(file.path(d, f), check.names = FALSE); m <- as.matrix(x[, -1]); rownames(m) <- x[[1]]; m }
b0 <- rd("batch0_mouse_miRNA_count.csv"); b1 <- rd("batch1_mouse_miRNA_count.csv")
shared <- intersect(rownames(b0), rownames(b1))
counts <- cbind(b0[shared, ], b1[shared, ])
lab <- read.csv(file.path(d, "microRNAseq_ID_summaries_032821.csv"), check.names = FALSE)
lab <- lab[match(colnames(counts), lab$Label_from_Core), ]
stopifnot(!anyNA(lab$Batch), all(lab$Keep_vs_Remove_forAnalysis == "Keep"))
batch <- factor(lab$Batch); treatment <- factor(lab$Treatment)
y <- calcNormFactors(DGEList(counts), method = "TMM")
lcpm <- cpm(y, log = TRUE, prior.count = 2)
zero_in <- sapply(levels(batch), function(b) rowSums(counts[, batch == b, drop = FALSE]) == 0)
flag <- apply(zero_in, 1, any)
flagged <- data.frame(feature_id = rownames(counts)[flag],
                      batch = apply(zero_in[flag, , drop = FALSE], 1, function(z) paste(colnames(zero_in)[z], collapse = ",")),
                      within_batch_var = apply(lcpm[flag, , drop = FALSE], 1, function(v) min(sapply(levels(batch), function(b) var(v[batch == b])))))
mod <- model.matrix(~treatment)
adj <- ComBat(dat = lcpm[!flag, ], batch = batch, mod = mod, par.prior = TRUE, mean.only = FALSE)
w <- function(df, name, digits = 10) {
  for (j in seq_along(df)) if (is.double(df[[j]])) df[[j]] <- signif(df[[j]], digits)
  write.table(df, file.path(out, name), sep = "\t", quote = FALSE, row.names = FALSE, na = "NA")
}
w(flagged, "flagged.tsv", 3)
w(data.frame(feature_id = rownames(adj), adj, check.names = FALSE), "combat_without_flagged.tsv")
w(data.frame(sample_id = colnames(counts), batch = lab$Batch, treatment = lab$Treatment,
             lib.size = y$samples$lib.size, norm.factors = y$samples$norm.factors), "samples.tsv")
cat(length(shared), "shared miRNAs,", sum(flag), "all-zero in a batch; sva", as.character(packageVersion("sva")), "\n")
