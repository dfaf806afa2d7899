//! A trajectory as one line of unicode block characters.

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// `values` squeezed into at most `width` characters (each the mean of its
/// share of the values), on the scale `[low, high]` shared by every line of
/// a comparison so that lines can be compared by eye.
pub fn sparkline(values: &[f64], width: usize, low: f64, high: f64) -> String {
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let columns = values.len().min(width);
    (0..columns)
        .map(|column| {
            let start = column * values.len() / columns;
            let end = ((column + 1) * values.len() / columns).max(start + 1);
            let slice = &values[start..end];
            let mean = slice.iter().sum::<f64>() / slice.len() as f64;
            bar(mean, low, high)
        })
        .collect()
}

fn bar(value: f64, low: f64, high: f64) -> char {
    let span = high - low;
    let level = if span > 0.0 {
        ((value - low) / span * (BARS.len() - 1) as f64).round()
    } else {
        0.0
    };
    BARS[(level.max(0.0) as usize).min(BARS.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_shared_scale() {
        assert_eq!(sparkline(&[0.0, 0.5, 1.0], 10, 0.0, 1.0), "▁▅█");
        assert_eq!(sparkline(&[0.5, 0.5], 10, 0.5, 0.5), "▁▁");
        assert_eq!(sparkline(&[], 10, 0.0, 1.0), "");
    }

    #[test]
    fn long_trajectories_are_averaged_into_the_width() {
        let values: Vec<f64> = (0..100).map(|i| if i < 50 { 0.0 } else { 1.0 }).collect();
        let line = sparkline(&values, 4, 0.0, 1.0);
        assert_eq!(line, "▁▁██");
    }
}
