//! Section 8: variance partition — share of each feature's variance per factor.

use crate::fmt::percent;
use crate::html::{Cell, Col, Table};
use crate::model::{VariancePartition, VpFeature};
use crate::sections::{figure, h3, stem, Ctx, Section};
use crate::svg::charts::{BoxGroup, BoxPlot, HBarChart, HBarRow};
use crate::svg::palette::OKABE_ITO;
use crate::svg::{Key, LegendEntry, TickFormat};

const HOWTO: &str = "For each feature, the variance across samples is split into the shares \
explained by each design factor (for example source, donor, batch) and a residual. The box plot \
shows, per factor, how large that share is across all features: a factor with a high median \
drives many features. A large <em>batch</em> share is a warning that processing, not biology, \
shapes the data. The stacked bars show the features best explained by the factors together; the \
grey part is unexplained (residual) variance.";

/// Colour of the residual share.
const RESIDUAL: &str = "#C8C8C8";

/// The variance-partition section, or `None` without data.
pub(crate) fn section(ctx: &Ctx<'_>) -> Option<Section> {
    if ctx.input.variance_partition.is_empty() {
        return None;
    }
    let body: String = ctx.input.variance_partition.iter().map(layer).collect();
    Some(Section {
        id: "variance",
        title: "Variance partition",
        howto: HOWTO,
        body,
    })
}

fn is_residual(name: &str) -> bool {
    matches!(name.to_ascii_lowercase().as_str(), "residual" | "residuals")
}

/// Colour of each factor: Okabe–Ito in order, grey for the residual.
fn factor_colours(factors: &[String]) -> Vec<&'static str> {
    let mut k = 0;
    factors
        .iter()
        .map(|f| {
            if is_residual(f) {
                RESIDUAL
            } else {
                k += 1;
                OKABE_ITO[(k - 1) % OKABE_ITO.len()]
            }
        })
        .collect()
}

/// Share explained by the non-residual factors.
fn explained(v: &VariancePartition, f: &VpFeature) -> Option<f64> {
    let shares = v
        .factors
        .iter()
        .zip(&f.fractions)
        .filter(|(name, _)| !is_residual(name));
    let mut total = 0.0;
    for (_, x) in shares {
        total += x.filter(|x| x.is_finite())?;
    }
    Some(total)
}

fn layer(v: &VariancePartition) -> String {
    let mut h = h3(&format!("Layer: {}", v.layer));
    if v.features.is_empty() || v.factors.is_empty() {
        h.push_str("<p class=\"summary\">No features.</p>\n");
        return h;
    }
    let colours = factor_colours(&v.factors);
    let groups: Vec<BoxGroup> = v
        .factors
        .iter()
        .enumerate()
        .map(|(j, name)| BoxGroup {
            label: name.clone(),
            colour: colours[j],
            values: v.features.iter().filter_map(|f| f.fractions[j]).collect(),
            titles: Vec::new(),
        })
        .collect();
    let plot = BoxPlot {
        width: 1000.0,
        plot_height: 230.0,
        label: format!("Variance explained per factor, {}", v.layer),
        y_title: "Variance explained".into(),
        y_format: TickFormat::Percent,
        y_domain: Some((0.0, 1.0)),
        groups,
        points: false,
    };
    h.push_str(&figure(
        &plot.render(),
        &format!(
            "Share of variance explained by each factor across {} features of {}.",
            v.features.len(),
            v.layer
        ),
    ));

    let mut ranked: Vec<(&VpFeature, Option<f64>)> =
        v.features.iter().map(|f| (f, explained(v, f))).collect();
    ranked.sort_by(|a, b| {
        b.1.unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&a.1.unwrap_or(f64::NEG_INFINITY))
            .then_with(|| a.0.feature_id.cmp(&b.0.feature_id))
    });
    // Residual last, so the bars read "explained, then unexplained".
    let mut order: Vec<usize> = (0..v.factors.len())
        .filter(|j| !is_residual(&v.factors[*j]))
        .collect();
    order.extend((0..v.factors.len()).filter(|j| is_residual(&v.factors[*j])));
    let top = v.top_features.min(ranked.len());
    if top > 0 {
        let rows = ranked[..top]
            .iter()
            .map(|(f, _)| {
                let name = f.name.as_deref().unwrap_or(&f.feature_id);
                HBarRow {
                    label: name.to_string(),
                    segments: order
                        .iter()
                        .filter_map(|&j| {
                            let x = f.fractions[j]?;
                            Some((
                                x,
                                colours[j],
                                format!("{name}: {} {}", v.factors[j], percent(x, 1)),
                            ))
                        })
                        .collect(),
                    err: None,
                }
            })
            .collect();
        let chart = HBarChart {
            width: 1000.0,
            label: format!("Variance partition of the top features, {}", v.layer),
            x_title: "Share of variance".into(),
            x_format: TickFormat::Percent,
            x_domain: Some((0.0, 1.0)),
            rows,
            legend_title: Some("Factor".into()),
            legend: order
                .iter()
                .map(|&j| LegendEntry {
                    label: v.factors[j].clone(),
                    key: Key::Swatch(colours[j].to_string()),
                })
                .collect(),
        };
        h.push_str(&figure(
            &chart.render(),
            &format!(
                "The {top} features of {} with the largest explained share.",
                v.layer
            ),
        ));
    }

    let mut cols: Vec<(&str, Col)> = vec![("Feature", Col::Text), ("Name", Col::Text)];
    cols.extend(v.factors.iter().map(|f| (f.as_str(), Col::Num)));
    cols.push(("Explained", Col::Num));
    let mut t = Table::new(&stem(&["variance_partition", &v.layer]), &cols);
    for (f, e) in &ranked {
        let mut row = vec![Cell::text(&f.feature_id), Cell::opt_text(f.name.as_deref())];
        row.extend(f.fractions.iter().map(|x| Cell::num(*x, |x| percent(x, 1))));
        row.push(Cell::num(*e, |x| percent(x, 1)));
        t.rows.push(row);
    }
    t.show = v.top_features;
    h.push_str(&t.render());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residual_is_grey_and_excluded_from_explained() {
        let factors: Vec<String> = ["source", "Residuals", "batch"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            factor_colours(&factors),
            [OKABE_ITO[0], RESIDUAL, OKABE_ITO[1]]
        );
        let v = VariancePartition {
            factors,
            ..VariancePartition::default()
        };
        let f = VpFeature {
            feature_id: "f".into(),
            name: None,
            fractions: vec![Some(0.5), Some(0.3), Some(0.2)],
        };
        assert!((explained(&v, &f).unwrap() - 0.7).abs() < 1e-12);
        let g = VpFeature {
            fractions: vec![None, Some(0.3), Some(0.2)],
            ..f
        };
        assert_eq!(explained(&v, &g), None);
    }
}
