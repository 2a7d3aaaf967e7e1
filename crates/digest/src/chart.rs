//! Horizontal bar charts as PNG images, for e-mail clients that show inline images but not
//! SVG. Bars only: labels and values are printed beside the image in the HTML (and in the
//! plain-text part), so no font rendering is needed here.

/// RGB colour.
pub type Rgb = [u8; 3];

/// Palette for successive bars.
pub const PALETTE: [Rgb; 6] = [
    [0x0d, 0x4f, 0x8b],
    [0x2e, 0x8b, 0x57],
    [0xd2, 0x69, 0x1e],
    [0x8b, 0x3a, 0x62],
    [0x46, 0x82, 0xb4],
    [0xb8, 0x86, 0x0b],
];

/// Render bars (value per row) scaled to `max` (or the largest value), one row each.
pub fn bar_chart_png(values: &[f64], max: Option<f64>, width: u32) -> Vec<u8> {
    let rows = values.len().max(1) as u32;
    let bar_h = 18u32;
    let gap = 6u32;
    let height = rows * (bar_h + gap) + gap;
    let mut px = vec![255u8; (width * height * 3) as usize];
    let top = max
        .unwrap_or_else(|| values.iter().cloned().fold(0.0, f64::max))
        .max(f64::EPSILON);
    let mut fill = |x0: u32, y0: u32, x1: u32, y1: u32, c: Rgb| {
        for y in y0..y1.min(height) {
            for x in x0..x1.min(width) {
                let i = ((y * width + x) * 3) as usize;
                px[i..i + 3].copy_from_slice(&c);
            }
        }
    };
    // Axis line.
    fill(0, 0, 2, height, [0x55, 0x55, 0x55]);
    for (i, v) in values.iter().enumerate() {
        let y = gap + i as u32 * (bar_h + gap);
        let len = ((v.max(0.0) / top) * (width - 4) as f64).round() as u32;
        fill(
            2,
            y,
            2 + len.max(if *v > 0.0 { 1 } else { 0 }),
            y + bar_h,
            PALETTE[i % PALETTE.len()],
        );
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        // Writing into a Vec cannot fail for well-formed dimensions.
        if let Ok(mut w) = enc.write_header() {
            let _ = w.write_image_data(&px);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_decodable_png() {
        let png_bytes = bar_chart_png(&[3.0, 0.0, 7.5], None, 300);
        assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
        let dec = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let reader = dec.read_info().unwrap();
        assert_eq!(reader.info().width, 300);
        assert_eq!(reader.info().height, 3 * 24 + 6);
    }
}
