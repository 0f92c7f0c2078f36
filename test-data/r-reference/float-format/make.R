# What R reads from evomics' number format: every value of numbers.tsv (written by evomics'
# format_float, see crates/evomics-io/tests/io.rs) read with read.delim, its bits written back
# in hex. Run: Rscript make.R (R 4.2.2 made the committed r_read.tsv).
d <- read.delim("numbers.tsv", colClasses = c("character", "numeric"))
hex <- vapply(d$text, function(x) paste(as.character(writeBin(x, raw(), endian = "big")), collapse = ""), "")
write.table(data.frame(bits = d$bits, r_bits = hex, r_print = sprintf("%.17g", d$text)),
            "r_read.tsv", sep = "\t", quote = FALSE, row.names = FALSE)
