#!/usr/bin/env Rscript
# limma's treat (fold-change threshold test) and topTreat on ../shared/oracles/synthetic-S:
# the proteome's valid-70 features, raw log2 with NA, design ~0 + source, the 5 source contrasts.
#
# Usage (from the repository root):
#   Rscript test-data/r-reference/treat/make.R ../shared/oracles/synthetic-S test-data/r-reference/treat
# R 4.2.2, limma 3.54.1 (the R of ../shared/peers/setup.sh). 10 significant digits.
suppressPackageStartupMessages(library(limma))
a <- commandArgs(trailingOnly = TRUE)
if (length(a) != 2) stop("usage: make.R <synthetic-S folder> <output folder>")
d <- a[1]; out <- a[2]
s <- read.delim(file.path(d, "samples.tsv"), check.names = FALSE)
x <- read.delim(file.path(d, "proteins_log2.tsv"), check.names = FALSE, na.strings = "NA")
P <- as.matrix(x[, -1]); rownames(P) <- x[[1]]; P <- P[, s$sample_id]
k <- read.delim(file.path(d, "oracle/filter_valid70.tsv"), check.names = FALSE)
X <- P[k$feature_id[k$keep == 1], ]
SOURCES <- c("BM-MSC", "ADSC", "UC-MSC", "iMSC", "DPSC", "SYN-MSC")
NAMES <- c("BM_MSC", "ADSC", "UC_MSC", "iMSC", "DPSC", "SYN_MSC")
src <- factor(s$source, levels = SOURCES); levels(src) <- NAMES
design <- model.matrix(~0 + src); colnames(design) <- NAMES
cm <- makeContrasts(ADSC_vs_BM_MSC = ADSC - BM_MSC, UC_MSC_vs_BM_MSC = UC_MSC - BM_MSC,
                    iMSC_vs_BM_MSC = iMSC - BM_MSC, DPSC_vs_BM_MSC = DPSC - BM_MSC,
                    SYN_MSC_vs_BM_MSC = SYN_MSC - BM_MSC, levels = design)
fit <- contrasts.fit(lmFit(X, design), cm)
# limma 3.54.1's treat() stops at `fit$t[fc.up] <- …` ("NAs are not allowed in subscripted
# assignments") when a coefficient is NA, as for the 3 proteins of synthetic-S that a source
# never measures. treat354 is limma 3.54.1's treat() verbatim (print(limma::treat)) except that
# NA in the two logical index vectors counts as FALSE, the fix later limma releases carry; those
# proteins keep t = 0 and P.Value NA, and every other number is what limma 3.54.1 computes.
treat354 <- function(fit, lfc, trend = FALSE, robust = FALSE, winsor.tail.p = c(0.05, 0.1)) {
  fit$lods <- NULL
  coefficients <- as.matrix(fit$coefficients)
  stdev.unscaled <- as.matrix(fit$stdev.unscaled)
  sigma <- fit$sigma
  df.residual <- fit$df.residual
  covariate <- if (trend) fit$Amean else NULL
  sv <- squeezeVar(sigma^2, df.residual, covariate = covariate, robust = robust, winsor.tail.p = winsor.tail.p)
  fit$df.prior <- sv$df.prior
  fit$s2.prior <- sv$var.prior
  fit$s2.post <- sv$var.post
  df.total <- df.residual + sv$df.prior
  df.pooled <- sum(df.residual, na.rm = TRUE)
  df.total <- pmin(df.total, df.pooled)
  fit$df.total <- df.total
  lfc <- abs(lfc)
  acoef <- abs(coefficients)
  se <- stdev.unscaled * sqrt(fit$s2.post)
  tstat.right <- (acoef - lfc)/se
  tstat.left <- (acoef + lfc)/se
  fit$t <- array(0, dim(coefficients), dimnames = dimnames(coefficients))
  fit$p.value <- pt(tstat.right, df = df.total, lower.tail = FALSE) + pt(tstat.left, df = df.total, lower.tail = FALSE)
  tstat.right <- pmax(tstat.right, 0)
  fc.up <- (coefficients > lfc); fc.up[is.na(fc.up)] <- FALSE
  fc.down <- (coefficients < -lfc); fc.down[is.na(fc.down)] <- FALSE
  fit$t[fc.up] <- tstat.right[fc.up]
  fit$t[fc.down] <- -tstat.right[fc.down]
  fit$treat.lfc <- lfc
  fit
}
sig <- function(df) { for (j in seq_along(df)) if (is.double(df[[j]])) df[[j]] <- signif(df[[j]], 10); df }
w <- function(df, name) write.table(sig(df), file.path(out, name), sep = "\t", quote = FALSE, row.names = FALSE, na = "NA")
for (v in c("default", "trend")) {
  tr <- treat354(fit, lfc = 1, trend = (v == "trend"))
  tab <- do.call(rbind, lapply(colnames(cm), function(k) {
    t <- topTreat(tr, coef = k, number = Inf, sort.by = "none", adjust.method = "BH")
    data.frame(feature_id = rownames(t), contrast = k, t[, c("logFC", "AveExpr", "t", "P.Value", "adj.P.Val")], check.names = FALSE)
  }))
  w(tab, sprintf("treat_lfc1_%s_toptreat.tsv", v))
  w(data.frame(feature_id = rownames(X), s2.prior = tr$s2.prior, df.prior = tr$df.prior, s2.post = tr$s2.post,
               df.total = tr$df.total, check.names = FALSE), sprintf("treat_lfc1_%s_fit.tsv", v))
}
for (v in c("default", "trend")) system2("gzip", c("-n", "-9", "-f", file.path(out, sprintf("treat_lfc1_%s_toptreat.tsv", v))))
cat("limma", as.character(packageVersion("limma")), "\n")
