# Reference p-values of the two-sided Fisher exact test on detection tables, as evomics'
# present/absent test computes them (crates/evomics-stats/src/detection.rs).
# Run: Rscript fisher.R > fisher.tsv   (R 4.2.2, stats::fisher.test)
cat("detected_up\tn_up\tdetected_down\tn_down\tp_value\n")
for (nu in c(1, 3, 5, 8, 25)) for (nd in c(2, 5, 13, 25)) {
  for (du in unique(round(seq(0, nu, length.out = 4)))) for (dd in unique(round(seq(0, nd, length.out = 4)))) {
    p <- fisher.test(matrix(c(du, nu - du, dd, nd - dd), 2))$p.value
    cat(sprintf("%d\t%d\t%d\t%d\t%.17g\n", du, nu, dd, nd, p))
  }
}
