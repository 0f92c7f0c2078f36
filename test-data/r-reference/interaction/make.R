#!/usr/bin/env Rscript
# An interaction (cell-means) design on the real MSC secretome: limma on log2 MaxLFQ intensities,
# missing stays missing (FragPipe writes 0 for "not quantified").
#
# Usage (from the repository root):
#   Rscript test-data/r-reference/interaction/make.R \
#     ../shared/data/real/msc-sources-osteogenic-secretome-proteome test-data/r-reference/interaction
# R 4.2.2, limma 3.54.1 (the R of ../shared/peers/setup.sh). 10 significant digits.
#
# Samples: the 45 of secretome_samples.tsv with excluded_by_authors == False. Proteins: the rows of
# secretome_fragpipe_combined_protein.tsv.gz whose Protein does not start with "contam_", with at
# least 2 values in each of the four cells the interaction contrast uses (ADSCs and DPSCs, control
# and dif). Design: model.matrix(~ 0 + Cell_type:Differentiation), levels in order of first
# appearance in the sheet (here also sorted order); columns named as evomics names them
# (level names made syntactic, joined by "."). Contrasts: the interaction (a contrast of
# contrasts) and the DPSC differentiation effect; eBayes() defaults (legacy estimator of 3.54).
suppressPackageStartupMessages(library(limma))
a <- commandArgs(trailingOnly = TRUE)
if (length(a) != 2) stop("usage: make.R <secretome folder> <output folder>")
d <- a[1]; out <- a[2]
s <- read.delim(file.path(d, "secretome_samples.tsv"), check.names = FALSE)
s <- s[s$excluded_by_authors == "False", ]
x <- read.delim(gzfile(file.path(d, "secretome_fragpipe_combined_protein.tsv.gz")), check.names = FALSE, quote = "")
x <- x[!startsWith(x$Protein, "contam_"), ]
Y <- as.matrix(x[, s$lfq_column]); rownames(Y) <- x$Protein; colnames(Y) <- s$Sample
Y[Y == 0] <- NA
Y <- log2(Y)
ct <- factor(s$Cell_type, levels = unique(s$Cell_type))
df <- factor(s$Differentiation, levels = unique(s$Differentiation))
cells <- list(c("ADSCs", "control"), c("ADSCs", "dif"), c("DPSCs", "control"), c("DPSCs", "dif"))
ok <- Reduce(`&`, lapply(cells, function(k) rowSums(!is.na(Y[, ct == k[1] & df == k[2], drop = FALSE])) >= 2))
Y <- Y[ok, ]
design <- model.matrix(~ 0 + ct:df)
syn <- function(v) gsub("[^A-Za-z0-9_.]", "_", v)
colnames(design) <- as.vector(outer(syn(levels(ct)), syn(levels(df)), paste, sep = "."))
fit <- lmFit(Y, design)
cm <- makeContrasts(interaction = (DPSCs.dif - DPSCs.control) - (ADSCs.dif - ADSCs.control),
                    DPSC_dif = DPSCs.dif - DPSCs.control, levels = design)
eb <- eBayes(contrasts.fit(fit, cm))
sig <- function(df) { for (j in seq_along(df)) if (is.double(df[[j]])) df[[j]] <- signif(df[[j]], 10); df }
w <- function(df, name) write.table(sig(df), file.path(out, name), sep = "\t", quote = FALSE, row.names = FALSE, na = "NA")
tab <- do.call(rbind, lapply(colnames(cm), function(k) {
  t <- topTable(eb, coef = k, number = Inf, sort.by = "none", adjust.method = "BH")
  data.frame(feature_id = rownames(t), contrast = k, t[, c("logFC", "AveExpr", "t", "P.Value", "adj.P.Val", "B")], check.names = FALSE)
}))
w(tab, "secretome_interaction_toptable.tsv")
w(data.frame(feature_id = rownames(Y), n_obs = rowSums(!is.na(Y)), Amean = eb$Amean, sigma = eb$sigma,
             df.residual = eb$df.residual, s2.prior = eb$s2.prior, df.prior = eb$df.prior, s2.post = eb$s2.post,
             df.total = eb$df.total, check.names = FALSE), "secretome_interaction_fit.tsv")
w(data.frame(coefficient = colnames(design), check.names = FALSE), "secretome_interaction_coefficients.tsv")
cat(nrow(Y), "proteins,", ncol(Y), "samples; limma", as.character(packageVersion("limma")), "\n")
