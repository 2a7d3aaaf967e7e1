//! Report charts: horizontal bar charts (per category, per bidang, per channel, per-step
//! compliance) and a 12-month trend (complaints as bars, on-time share as a line), drawn with
//! `plotters` as PNG (for the e-mail) or SVG (for the staff page).
//!
//! Text is rendered with the embedded DejaVu Sans (see `assets/DejaVu-LICENSE.txt`), so the
//! PNG output does not depend on fonts installed on the server. Numbers use Indonesian
//! formatting ([`fmt_id`]): `.` groups thousands, `,` is the decimal separator.
//!
//! The old [`bar_chart_png`] (bars only, no text) and [`PALETTE`] stay until their callers
//! are switched over.

use std::collections::HashMap;
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
// The backend's style traits are only named in `CrispText`'s impl: in scope they would
// clash with plotters' `Color::stroke_width` and friends.
use plotters_backend::{BackendColor, BackendCoord, DrawingErrorKind};

/// RGB colour.
pub type Rgb = [u8; 3];

/// Palette for successive bars (used by the old [`bar_chart_png`]).
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

// ---------------------------------------------------------------------------------------------
// Number formatting
// ---------------------------------------------------------------------------------------------

/// How values are printed: counts ("1.234"), percentages ("87,5 %"), minutes ("1.234,5").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueFormat {
    Count,
    Percent,
    Minutes,
}

impl ValueFormat {
    /// The value as printed at the end of a bar.
    pub fn format(self, v: f64) -> String {
        match self {
            ValueFormat::Count => fmt_id(v, 0),
            ValueFormat::Percent => format!("{} %", fmt_id(v, 1)),
            ValueFormat::Minutes => fmt_id(v, 1),
        }
    }

    /// An axis tick: whole numbers without decimals, others with one.
    fn tick(self, v: f64) -> String {
        let decimals = if (v - v.round()).abs() < 1e-9 { 0 } else { 1 };
        match self {
            ValueFormat::Percent => format!("{} %", fmt_id(v, decimals)),
            _ => fmt_id(v, decimals),
        }
    }
}

/// Indonesian number formatting: thousands separator '.', decimal ',' (`decimals` digits,
/// rounded half away from zero), e.g. fmt_id(1234.5, 1) = "1.234,5", fmt_id(0.0, 0) = "0",
/// fmt_id(-1234.0, 0) = "-1.234".
///
/// At most 15 decimals are printed; a value that is not finite prints as "–".
pub fn fmt_id(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return "–".to_string();
    }
    let decimals = decimals.min(15);
    // `f64::round` rounds half away from zero; the scaled value is then an integer whose
    // exact decimal digits `{:.0}` prints (no overflow, whatever the magnitude).
    let scaled = (x.abs() * 10f64.powi(decimals as i32)).round();
    let mut digits = format!("{scaled:.0}");
    if digits.len() <= decimals {
        digits = format!("{}{digits}", "0".repeat(decimals + 1 - digits.len()));
    }
    let (int, frac) = digits.split_at(digits.len() - decimals);
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 2);
    if x < 0.0 && scaled != 0.0 {
        out.push('-');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push('.');
        }
        out.push(c);
    }
    if decimals > 0 {
        out.push(',');
        out.push_str(frac);
    }
    out
}

/// Indonesian month abbreviations, January first.
pub const MONTHS_ID: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des",
];

/// The trend label of a month, e.g. "Jan 26" for any day of January 2026.
pub fn month_label<D: chrono::Datelike>(date: &D) -> String {
    format!(
        "{} {:02}",
        MONTHS_ID[date.month0() as usize],
        date.year().rem_euclid(100)
    )
}

// ---------------------------------------------------------------------------------------------
// Chart descriptions
// ---------------------------------------------------------------------------------------------

/// A horizontal bar chart: one bar per (label, value); value printed at the bar's end.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    pub title: String,
    /// Description of the value axis, e.g. "Jumlah aduan".
    pub axis_label: String,
    pub bars: Vec<(String, f64)>,
    pub format: ValueFormat,
    /// fixed axis maximum (100 for percentages), else from the data
    pub max: Option<f64>,
}

/// Complaints per month (bars, left axis) and the share handled within the standard time
/// (line, right axis 0–100 %); months labelled like "Jan 26" (Indonesian month abbreviations:
/// Jan Feb Mar Apr Mei Jun Jul Agu Sep Okt Nov Des, see [`month_label`]). A month with
/// `on_time_pct: None` has no point on the line (a gap), not 0.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendChart {
    pub title: String,
    pub months: Vec<TrendMonth>,
}

/// One month of a [`TrendChart`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrendMonth {
    pub label: String,
    pub complaints: usize,
    pub on_time_pct: Option<f64>,
}

/// Why a chart could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error(
        "ukuran grafik tidak valid: {width}x{height} px (lebar {min_width}–{MAX_SIDE}, \
         tinggi {min_height}–{MAX_SIDE})"
    )]
    InvalidSize {
        width: u32,
        height: u32,
        min_width: u32,
        min_height: u32,
    },
    #[error("font grafik tidak dapat dimuat")]
    Font,
    #[error("gagal menggambar grafik: {0}")]
    Draw(String),
    #[error("gagal menyandikan PNG: {0}")]
    Png(#[from] png::EncodingError),
}

fn draw_err<E: std::fmt::Display>(e: E) -> ChartError {
    ChartError::Draw(e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Style
// ---------------------------------------------------------------------------------------------

/// Font family name the embedded font is registered under. In SVG it becomes the
/// `font-family` list, so browsers without DejaVu Sans fall back to their sans-serif.
const FAMILY: &str = "DejaVu Sans, sans-serif";
static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The embedded font, parsed and registered with plotters once (plotters measures text with
/// it; [`CrispText`] draws PNG text with it).
fn font_ready() -> Result<&'static FontRef<'static>, ChartError> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| {
        let font = FontRef::try_from_slice(DEJAVU_SANS).ok()?;
        plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).ok()?;
        Some(font)
    })
    .as_ref()
    .ok_or(ChartError::Font)
}

const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);
const MUTED: RGBColor = RGBColor(0x66, 0x66, 0x66);
const GRID: RGBColor = RGBColor(0xdd, 0xdd, 0xdd);
const AXIS: RGBColor = RGBColor(0x88, 0x88, 0x88);
/// Bars of a bar chart: a medium-dark steel blue (mid grey in print).
const BAR: RGBColor = RGBColor(0x3e, 0x6d, 0x9c);
/// Bars of the trend: light blue-grey, so the dark line stays visible over them in print.
const TREND_BAR: RGBColor = RGBColor(0xa8, 0xc1, 0xda);
/// The on-time line: dark rust (near black in print).
const LINE: RGBColor = RGBColor(0xa3, 0x45, 0x1c);

const TITLE_SIZE: f64 = 24.0;
const LABEL_SIZE: f64 = 16.0;
const VALUE_SIZE: f64 = 15.0;
const TICK_SIZE: f64 = 14.0;
const NOTE: &str = "Tidak ada data";
/// Labels longer than this many characters are cut with "…".
const MAX_LABEL_CHARS: usize = 28;

const MAX_SIDE: u32 = 4096;
const MIN_WIDTH: u32 = 240;
const MIN_TREND_HEIGHT: u32 = 200;

/// Space above the plot for the title (and the legend of the trend).
const HEADER: u32 = 44;
const TREND_HEADER: u32 = 70;
const MARGIN: u32 = 12;
/// Height of one bar's row.
const ROW: u32 = 30;
/// Tick labels plus the axis description under the plot.
const X_AXIS_AREA: u32 = 50;

fn font(size: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), size, FontStyle::Normal)
}

fn text_style(size: f64, color: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    font(size).color(&color).pos(Pos::new(h, v))
}

/// Width in pixels of `text` in the embedded font.
fn text_width(text: &str, size: f64) -> u32 {
    font(size).box_size(text).map(|(w, _)| w).unwrap_or(0)
}

/// Labels on one line: control characters (newlines, tabs) become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// `text` on one line, cut with "…" to at most `max_chars` characters and `max_px` pixels.
fn fit(text: &str, max_chars: usize, size: f64, max_px: u32) -> String {
    let chars: Vec<char> = one_line(text).chars().collect();
    let mut keep = chars.len().min(max_chars);
    loop {
        let candidate: String = if keep < chars.len() {
            let mut s: String = chars[..keep.saturating_sub(1)].iter().collect();
            s = s.trim_end().to_string();
            s.push('…');
            s
        } else {
            chars.iter().collect()
        };
        if keep <= 1 || text_width(&candidate, size) <= max_px {
            return candidate;
        }
        keep -= 1;
    }
}

/// An axis maximum at or above `m` that is a multiple of a 1-2-5 step giving at most
/// `max_steps` steps; counts never get a step below 1. Returns (maximum, step).
fn nice_axis(m: f64, max_steps: f64, integer: bool) -> (f64, f64) {
    if !m.is_finite() || m <= 0.0 {
        return (1.0, if integer { 1.0 } else { 0.2 });
    }
    let raw = m / max_steps;
    let exp = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|f| f * exp)
        .find(|s| m / s <= max_steps + 1e-9)
        .unwrap_or(10.0 * exp);
    if integer {
        step = step.max(1.0).round();
    }
    ((m / step - 1e-9).ceil() * step, step)
}

fn check_size(width: u32, height: u32, min_height: u32) -> Result<(), ChartError> {
    if !(MIN_WIDTH..=MAX_SIDE).contains(&width) || !(min_height..=MAX_SIDE).contains(&height) {
        return Err(ChartError::InvalidSize {
            width,
            height,
            min_width: MIN_WIDTH,
            min_height,
        });
    }
    Ok(())
}

/// Draws the chart title, left-aligned in the header, cut to the width.
fn draw_title<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    width: u32,
) -> Result<(), ChartError> {
    let title = fit(title, usize::MAX, TITLE_SIZE, width - 2 * MARGIN);
    root.draw(&Text::new(
        title,
        (MARGIN as i32, MARGIN as i32),
        text_style(TITLE_SIZE, TEXT, HPos::Left, VPos::Top),
    ))
    .map_err(draw_err)
}

fn draw_note<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    at: (i32, i32),
) -> Result<(), ChartError> {
    root.draw(&Text::new(
        NOTE,
        at,
        text_style(LABEL_SIZE + 2.0, MUTED, HPos::Center, VPos::Center),
    ))
    .map_err(draw_err)
}

fn render_png(
    width: u32,
    height: u32,
    draw: impl FnOnce(&DrawingArea<CrispText<'_>, Shift>) -> Result<(), ChartError>,
) -> Result<Vec<u8>, ChartError> {
    let font = font_ready()?;
    let mut buf = vec![0u8; width as usize * height as usize * 3];
    {
        let root = CrispText {
            inner: BitMapBackend::with_buffer(&mut buf, (width, height)),
            font,
        }
        .into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header()?;
    writer.write_image_data(&buf)?;
    writer.finish()?;
    Ok(out)
}

fn render_svg(
    width: u32,
    height: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), ChartError>,
) -> Result<String, ChartError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    Ok(out)
}

/// The bitmap backend with its own text rendering: plotters 0.3.7 draws `ab_glyph` text
/// glyph by glyph at whole-pixel pen positions and drops each glyph's left side bearing,
/// which leaves uneven letter spacing ("ol eh"). Here a string is laid out once with
/// fractional advances, kerning and bearings, and each pixel's coverage is blended once.
/// Everything else is the plain [`BitMapBackend`].
struct CrispText<'a> {
    inner: BitMapBackend<'a>,
    font: &'static FontRef<'static>,
}

type BitmapError = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

impl CrispText<'_> {
    /// Coverage per pixel of `text` with its line box's top-left corner at (0, 0), and the
    /// box's size (advance width, ascent to descent).
    fn rasterize(&self, text: &str, size: f64) -> (HashMap<(i32, i32), f32>, (i32, i32)) {
        let scale = PxScale::from(size as f32);
        let font = self.font.as_scaled(scale);
        let mut coverage: HashMap<(i32, i32), f32> = HashMap::new();
        let mut pen = 0f32;
        let mut prev = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = prev {
                pen += font.kern(p, id);
            }
            prev = Some(id);
            let glyph = id.with_scale_and_position(scale, point(pen, font.ascent()));
            if let Some(outline) = self.font.outline_glyph(glyph) {
                let min = outline.px_bounds().min;
                outline.draw(|x, y, cov| {
                    let key = (min.x as i32 + x as i32, min.y as i32 + y as i32);
                    let v = coverage.entry(key).or_insert(0.0);
                    *v = (*v + cov).min(1.0);
                });
            }
            pen += font.h_advance(id);
        }
        let height = (font.ascent() - font.descent()).ceil() as i32;
        (coverage, (pen.ceil() as i32, height))
    }
}

impl DrawingBackend for CrispText<'_> {
    type ErrorType = BitmapError;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }
    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<BitmapError>> {
        self.inner.ensure_prepared()
    }
    fn present(&mut self) -> Result<(), DrawingErrorKind<BitmapError>> {
        self.inner.present()
    }
    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<BitmapError>> {
        self.inner.draw_pixel(point, color)
    }
    fn draw_line<S: plotters_backend::BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<BitmapError>> {
        self.inner.draw_line(from, to, style)
    }
    fn draw_rect<S: plotters_backend::BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<BitmapError>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }
    fn draw_path<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<BitmapError>> {
        self.inner.draw_path(path, style)
    }
    fn draw_circle<S: plotters_backend::BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<BitmapError>> {
        self.inner.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<BitmapError>> {
        self.inner.fill_polygon(vert, style)
    }
    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<BitmapError>> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<TStyle: plotters_backend::BackendTextStyle>(
        &self,
        text: &str,
        style: &TStyle,
    ) -> Result<(u32, u32), DrawingErrorKind<BitmapError>> {
        let font = self.font.as_scaled(PxScale::from(style.size() as f32));
        let mut width = 0f32;
        let mut prev = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = prev {
                width += font.kern(p, id);
            }
            prev = Some(id);
            width += font.h_advance(id);
        }
        let (w, h) = (
            width.ceil() as i32,
            (font.ascent() - font.descent()).ceil() as i32,
        );
        let (w, h) = style.transform().transform(w, h);
        Ok((w.unsigned_abs(), h.unsigned_abs()))
    }

    fn draw_text<TStyle: plotters_backend::BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<BitmapError>> {
        let color = style.color();
        if color.alpha == 0.0 || text.is_empty() {
            return Ok(());
        }
        let (coverage, (w, h)) = self.rasterize(text, style.size());
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0,
            HPos::Center => -w / 2,
            HPos::Right => -w,
        };
        let dy = match anchor.v_pos {
            VPos::Top => 0,
            VPos::Center => -h / 2,
            VPos::Bottom => -h,
        };
        let trans = style.transform();
        for ((x, y), cov) in coverage {
            let (x, y) = trans.transform(x + dx, y + dy);
            self.inner
                .draw_pixel((pos.0 + x, pos.1 + y), color.mix(cov as f64))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Bar chart
// ---------------------------------------------------------------------------------------------

impl BarChart {
    /// Height in pixels of the chart at any width: grows with the number of bars.
    pub fn height(&self) -> u32 {
        let rows = if self.bars.is_empty() {
            3
        } else {
            self.bars.len() as u32
        };
        (HEADER + rows.saturating_mul(ROW) + X_AXIS_AREA + MARGIN).min(MAX_SIDE)
    }

    /// The chart as a PNG image, `width` pixels wide (240–4096) and [`Self::height`] high.
    pub fn png(&self, width: u32) -> Result<Vec<u8>, ChartError> {
        let height = self.height();
        check_size(width, height, 0)?;
        render_png(width, height, |root| self.draw(root, width))
    }

    /// The chart as an SVG document, `width` pixels wide and [`Self::height`] high.
    pub fn svg(&self, width: u32) -> Result<String, ChartError> {
        let height = self.height();
        check_size(width, height, 0)?;
        font_ready()?;
        render_svg(width, height, |root| self.draw(root, width))
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        width: u32,
    ) -> Result<(), ChartError> {
        draw_title(root, &self.title, width)?;
        // Bars that fit the chart's height; the rest would be drawn off the image.
        let max_rows = ((MAX_SIDE - HEADER - X_AXIS_AREA - MARGIN) / ROW) as usize;
        let bars: Vec<(String, f64)> = self
            .bars
            .iter()
            .take(max_rows)
            .map(|(l, v)| (one_line(l), *v))
            .collect();
        let value = |v: f64| if v.is_finite() { v.max(0.0) } else { 0.0 };
        let data_max = bars.iter().map(|(_, v)| value(*v)).fold(0.0, f64::max);
        let integer = self.format == ValueFormat::Count;
        let (axis_max, step) = match self.max {
            Some(m) if m.is_finite() && m > 0.0 => (m, nice_axis(m, 5.0, integer).1),
            _ => nice_axis(data_max, 5.0, integer),
        };
        let no_data = data_max <= 0.0;

        // Category labels: as wide as the widest (cut) label, at most 45 % of the width.
        let label_cap = (width as f64 * 0.45) as u32;
        let labels: Vec<String> = bars
            .iter()
            .map(|(l, _)| fit(l, MAX_LABEL_CHARS, LABEL_SIZE, label_cap))
            .collect();
        let label_area = labels
            .iter()
            .map(|l| text_width(l, LABEL_SIZE))
            .max()
            .unwrap_or(0)
            + 14;
        let values: Vec<String> = bars.iter().map(|(_, v)| self.format.format(*v)).collect();
        let value_area = values
            .iter()
            .map(|s| text_width(s, VALUE_SIZE))
            .max()
            .unwrap_or(0)
            .max(text_width(&self.format.tick(axis_max), TICK_SIZE) / 2)
            + 14;

        let n = bars.len().max(1) as f64;
        let mut chart = ChartBuilder::on(root)
            .margin_top(HEADER)
            .margin_left(MARGIN)
            .margin_right(value_area.max(MARGIN))
            .margin_bottom(MARGIN)
            .x_label_area_size(X_AXIS_AREA)
            .y_label_area_size(label_area)
            .build_cartesian_2d(0.0..axis_max, 0.0..n)
            .map_err(draw_err)?;
        let tick = |v: &f64| self.format.tick(*v);
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_labels((axis_max / step).round() as usize + 1)
            .x_max_light_lines(0)
            .x_label_formatter(&tick)
            .x_label_style(font(TICK_SIZE).color(&TEXT))
            .x_desc(one_line(&self.axis_label))
            .axis_desc_style(font(LABEL_SIZE).color(&TEXT))
            .bold_line_style(GRID)
            .axis_style(AXIS)
            .draw()
            .map_err(draw_err)?;

        let rows = bars.len();
        // Row i (first bar at the top) spans y in [n-i-1, n-i].
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
                let top = (rows - i) as f64;
                let len = value(*v).min(axis_max);
                Rectangle::new([(0.0, top - 0.2), (len, top - 0.8)], BAR.filled())
            }))
            .map_err(draw_err)?;
        chart
            .draw_series(labels.iter().enumerate().map(|(i, l)| {
                let mid = (rows - i) as f64 - 0.5;
                EmptyElement::at((0.0, mid))
                    + Text::new(
                        l.clone(),
                        (-8, 0),
                        text_style(LABEL_SIZE, TEXT, HPos::Right, VPos::Center),
                    )
            }))
            .map_err(draw_err)?;
        chart
            .draw_series(
                values
                    .iter()
                    .zip(&bars)
                    .enumerate()
                    .map(|(i, (s, (_, v)))| {
                        let mid = (rows - i) as f64 - 0.5;
                        EmptyElement::at((value(*v).min(axis_max), mid))
                            + Text::new(
                                s.clone(),
                                (6, 0),
                                text_style(VALUE_SIZE, TEXT, HPos::Left, VPos::Center),
                            )
                    }),
            )
            .map_err(draw_err)?;
        if no_data {
            let area = chart.plotting_area();
            let (xr, yr) = area.get_pixel_range();
            let at = ((xr.start + xr.end) / 2, (yr.start + yr.end) / 2);
            draw_note(root, at)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Trend chart
// ---------------------------------------------------------------------------------------------

/// A month label as drawn: whole, or split at its first space ("Jan 26" -> "Jan", "26").
fn label_lines(label: &str, split: bool) -> Vec<String> {
    match label.split_once(' ') {
        Some((a, b)) if split => vec![a.to_string(), b.trim().to_string()],
        _ => vec![label.to_string()],
    }
}

impl TrendChart {
    /// The chart as a PNG image (`width` 240–4096, `height` 200–4096 pixels).
    pub fn png(&self, width: u32, height: u32) -> Result<Vec<u8>, ChartError> {
        check_size(width, height, MIN_TREND_HEIGHT)?;
        render_png(width, height, |root| self.draw(root, width))
    }

    /// The chart as an SVG document (`width` 240–4096, `height` 200–4096 pixels).
    pub fn svg(&self, width: u32, height: u32) -> Result<String, ChartError> {
        check_size(width, height, MIN_TREND_HEIGHT)?;
        font_ready()?;
        render_svg(width, height, |root| self.draw(root, width))
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        width: u32,
    ) -> Result<(), ChartError> {
        draw_title(root, &self.title, width)?;
        let months = &self.months;
        let pct = |m: &TrendMonth| {
            m.on_time_pct
                .filter(|p| p.is_finite())
                .map(|p| p.clamp(0.0, 100.0))
        };
        let no_data = months.iter().all(|m| m.complaints == 0 && pct(m).is_none());

        // Legend under the title: a bar swatch and a line swatch.
        let ly = (MARGIN + 40) as i32;
        let mut lx = MARGIN as i32;
        root.draw(&Rectangle::new(
            [(lx, ly - 6), (lx + 18, ly + 6)],
            TREND_BAR.filled(),
        ))
        .map_err(draw_err)?;
        lx += 24;
        let bars_label = "Jumlah aduan";
        root.draw(&Text::new(
            bars_label,
            (lx, ly),
            text_style(TICK_SIZE, TEXT, HPos::Left, VPos::Center),
        ))
        .map_err(draw_err)?;
        lx += text_width(bars_label, TICK_SIZE) as i32 + 24;
        root.draw(&PathElement::new(
            vec![(lx, ly), (lx + 22, ly)],
            LINE.stroke_width(3),
        ))
        .map_err(draw_err)?;
        lx += 28;
        root.draw(&Text::new(
            "Selesai tepat waktu (%)",
            (lx, ly),
            text_style(TICK_SIZE, TEXT, HPos::Left, VPos::Center),
        ))
        .map_err(draw_err)?;

        let n = months.len().max(1);
        let max_count = months.iter().map(|m| m.complaints).max().unwrap_or(0) as f64;
        // Headroom above the tallest bar for its count.
        let (left_max, left_step) = nice_axis(max_count * 1.1, 5.0, true);
        let mut chart = ChartBuilder::on(root)
            .margin_top(TREND_HEADER)
            .margin_left(MARGIN)
            .margin_right(MARGIN)
            .margin_bottom(MARGIN)
            .x_label_area_size(44)
            .y_label_area_size(text_width(&fmt_id(left_max, 0), TICK_SIZE) + 40)
            .right_y_label_area_size(text_width("100 %", TICK_SIZE) + 40)
            .build_cartesian_2d(0.0..n as f64, 0.0..left_max)
            .map_err(draw_err)?
            .set_secondary_coord(0.0..n as f64, 0.0..100.0);
        let count_tick = |v: &f64| ValueFormat::Count.tick(*v);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels((left_max / left_step).round() as usize + 1)
            .y_max_light_lines(0)
            .y_label_formatter(&count_tick)
            .y_label_style(font(TICK_SIZE).color(&TEXT))
            .y_desc("Jumlah aduan")
            .axis_desc_style(font(TICK_SIZE).color(&TEXT))
            .bold_line_style(GRID)
            .axis_style(AXIS)
            .draw()
            .map_err(draw_err)?;
        let pct_tick = |v: &f64| ValueFormat::Percent.tick(*v);
        chart
            .configure_secondary_axes()
            .y_labels(6)
            .y_label_formatter(&pct_tick)
            .label_style(font(TICK_SIZE).color(&TEXT))
            .y_desc("Tepat waktu (%)")
            .axis_desc_style(font(TICK_SIZE).color(&TEXT))
            .axis_style(AXIS)
            .draw()
            .map_err(draw_err)?;

        if no_data {
            let (xr, yr) = chart.plotting_area().get_pixel_range();
            draw_note(root, ((xr.start + xr.end) / 2, (yr.start + yr.end) / 2))?;
            return Ok(());
        }

        chart
            .draw_series(months.iter().enumerate().map(|(i, m)| {
                let x = i as f64;
                Rectangle::new(
                    [(x + 0.18, 0.0), (x + 0.82, m.complaints as f64)],
                    TREND_BAR.filled(),
                )
            }))
            .map_err(draw_err)?;
        // Month slots in pixels; labels that do not fit their slot are thinned out.
        let (xr, _) = chart.plotting_area().get_pixel_range();
        let slot = ((xr.end - xr.start) as f64 / n as f64).max(1.0);
        let widest_count = months
            .iter()
            .map(|m| text_width(&fmt_id(m.complaints as f64, 0), TICK_SIZE - 1.0))
            .max()
            .unwrap_or(0) as f64;
        let counts_fit = widest_count + 4.0 <= slot;
        chart
            .draw_series(
                months
                    .iter()
                    .enumerate()
                    .filter(|_| counts_fit)
                    .map(|(i, m)| {
                        EmptyElement::at((i as f64 + 0.5, m.complaints as f64))
                            + Text::new(
                                fmt_id(m.complaints as f64, 0),
                                (0, -3),
                                text_style(TICK_SIZE - 1.0, MUTED, HPos::Center, VPos::Bottom),
                            )
                    }),
            )
            .map_err(draw_err)?;

        // Month labels: on one line if they fit their slot, else split at the space ("Jan"
        // over "26"), else only every k-th month.
        let labels: Vec<String> = months
            .iter()
            .map(|m| fit(&m.label, 12, TICK_SIZE, u32::MAX))
            .collect();
        let widest = |split: bool| {
            labels
                .iter()
                .flat_map(|l| label_lines(l, split))
                .map(|l| text_width(&l, TICK_SIZE))
                .max()
                .unwrap_or(0) as f64
        };
        let split = widest(false) + 6.0 > slot;
        let width = widest(split);
        let every = ((width + 6.0) / slot).ceil().max(1.0) as usize;
        let line_h = (TICK_SIZE + 2.0) as i32;
        chart
            .draw_series(
                labels
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % every == 0)
                    .flat_map(|(i, l)| {
                        label_lines(l, split)
                            .into_iter()
                            .enumerate()
                            .map(move |(k, line)| {
                                EmptyElement::at((i as f64 + 0.5, 0.0))
                                    + Text::new(
                                        line,
                                        (0, 7 + k as i32 * line_h),
                                        text_style(TICK_SIZE, TEXT, HPos::Center, VPos::Top),
                                    )
                            })
                    }),
            )
            .map_err(draw_err)?;

        // The on-time line: one polyline per run of months that have a value, so a month
        // without one leaves a gap; a dot on every month that has a value.
        let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut run: Vec<(f64, f64)> = Vec::new();
        for (i, m) in months.iter().enumerate() {
            match pct(m) {
                Some(p) => run.push((i as f64 + 0.5, p)),
                None if !run.is_empty() => runs.push(std::mem::take(&mut run)),
                None => {}
            }
        }
        if !run.is_empty() {
            runs.push(run);
        }
        for run in &runs {
            if run.len() > 1 {
                chart
                    .draw_secondary_series(LineSeries::new(
                        run.iter().copied(),
                        LINE.stroke_width(3),
                    ))
                    .map_err(draw_err)?;
            }
        }
        chart
            .draw_secondary_series(
                runs.iter()
                    .flatten()
                    .map(|&p| Circle::new(p, 4, LINE.filled())),
            )
            .map_err(draw_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_bars() -> BarChart {
        BarChart {
            title: "Aduan per kategori — Januari 2026".into(),
            axis_label: "Jumlah aduan".into(),
            bars: vec![
                ("sarana_prasarana".into(), 1234.0),
                ("Jalan & Jembatan <rusak>".into(), 987.0),
                ("3. penyelesaian oleh bidang".into(), 456.0),
                (
                    "Kebersihan dan persampahan di wilayah Kecamatan Kuta Selatan".into(),
                    78.0,
                ),
                ("Banjar Tegallalang, Gianyar".into(), 5.0),
                ("lainnya".into(), 0.0),
            ],
            format: ValueFormat::Count,
            max: None,
        }
    }

    fn sample_trend() -> TrendChart {
        let months = [
            (412, Some(81.5)),
            (380, Some(84.0)),
            (455, None),
            (501, Some(78.25)),
            (1234, Some(66.0)),
            (610, Some(72.5)),
            (590, Some(88.0)),
            (0, None),
            (620, Some(91.0)),
            (700, Some(0.0)),
            (644, Some(93.5)),
            (655, Some(95.0)),
        ];
        TrendChart {
            title: "Tren 12 bulan: aduan dan penyelesaian tepat waktu".into(),
            months: months
                .iter()
                .enumerate()
                .map(|(i, (c, p))| TrendMonth {
                    label: format!(
                        "{} {}",
                        MONTHS_ID[(i + 1) % 12],
                        if i < 11 { 25 } else { 26 }
                    ),
                    complaints: *c,
                    on_time_pct: *p,
                })
                .collect(),
        }
    }

    #[test]
    #[ignore = "writes /tmp/charts-*.png for a visual check"]
    fn write_samples() {
        std::fs::write("/tmp/charts-bars.png", sample_bars().png(640).unwrap()).unwrap();
        std::fs::write("/tmp/charts-bars.svg", sample_bars().svg(640).unwrap()).unwrap();
        let pct = BarChart {
            title: "Kepatuhan per langkah".into(),
            axis_label: "Tepat waktu (%)".into(),
            bars: vec![
                ("1. verifikasi".into(), 97.5),
                ("2. disposisi ke bidang".into(), 100.0),
                ("3. penyelesaian oleh bidang".into(), 62.25),
                ("4. tanggapan ke pelapor".into(), 87.5),
            ],
            format: ValueFormat::Percent,
            max: Some(100.0),
        };
        std::fs::write("/tmp/charts-pct.png", pct.png(640).unwrap()).unwrap();
        let empty = BarChart {
            bars: vec![],
            ..sample_bars()
        };
        std::fs::write("/tmp/charts-empty.png", empty.png(640).unwrap()).unwrap();
        let zero = BarChart {
            bars: vec![("a".into(), 0.0), ("b".into(), 0.0)],
            ..sample_bars()
        };
        std::fs::write("/tmp/charts-zero.png", zero.png(640).unwrap()).unwrap();
        std::fs::write(
            "/tmp/charts-trend.png",
            sample_trend().png(760, 360).unwrap(),
        )
        .unwrap();
        std::fs::write(
            "/tmp/charts-trend.svg",
            sample_trend().svg(760, 360).unwrap(),
        )
        .unwrap();
        let t = TrendChart {
            months: vec![],
            ..sample_trend()
        };
        std::fs::write("/tmp/charts-trend-empty.png", t.png(760, 360).unwrap()).unwrap();
        std::fs::write(
            "/tmp/charts-trend-narrow.png",
            sample_trend().png(360, 260).unwrap(),
        )
        .unwrap();
        std::fs::write(
            "/tmp/charts-trend-600.png",
            sample_trend().png(600, 320).unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn renders_a_decodable_png() {
        let png_bytes = bar_chart_png(&[3.0, 0.0, 7.5], None, 300);
        assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
        let dec = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let reader = dec.read_info().unwrap();
        assert_eq!(reader.info().width, 300);
        assert_eq!(reader.info().height, 3 * 24 + 6);
    }

    // ---- number formatting ------------------------------------------------------------

    #[test]
    fn fmt_id_groups_thousands_and_uses_a_decimal_comma() {
        let cases: &[(f64, usize, &str)] = &[
            (0.0, 0, "0"),
            (0.0, 2, "0,00"),
            (7.0, 0, "7"),
            (999.0, 0, "999"),
            (1000.0, 0, "1.000"),
            (1234.5, 1, "1.234,5"),
            (-1234.0, 0, "-1.234"),
            (1234567.89, 2, "1.234.567,89"),
            (1234567.89, 1, "1.234.567,9"),
            (1234567.89, 0, "1.234.568"),
            (12.0, 2, "12,00"),
            (0.5, 2, "0,50"),
            (999999.5, 0, "1.000.000"),
            (1e15, 0, "1.000.000.000.000.000"),
        ];
        for (x, d, want) in cases {
            assert_eq!(fmt_id(*x, *d), *want, "fmt_id({x}, {d})");
        }
    }

    #[test]
    fn fmt_id_rounds_half_away_from_zero() {
        assert_eq!(fmt_id(2.5, 0), "3");
        assert_eq!(fmt_id(-2.5, 0), "-3");
        assert_eq!(fmt_id(0.125, 2), "0,13");
        assert_eq!(fmt_id(-0.125, 2), "-0,13");
        assert_eq!(fmt_id(62.25, 1), "62,3");
        assert_eq!(fmt_id(1234.44, 1), "1.234,4");
        assert_eq!(fmt_id(1234.46, 1), "1.234,5");
        // Rounds to zero: no "-0".
        assert_eq!(fmt_id(-0.4, 0), "0");
        assert_eq!(fmt_id(-0.004, 2), "0,00");
        assert_eq!(fmt_id(f64::NAN, 1), "–");
        assert_eq!(fmt_id(f64::INFINITY, 0), "–");
    }

    #[test]
    fn value_formats_print_counts_percentages_and_minutes() {
        assert_eq!(ValueFormat::Count.format(1234.0), "1.234");
        assert_eq!(ValueFormat::Count.format(3.6), "4");
        assert_eq!(ValueFormat::Percent.format(87.5), "87,5 %");
        assert_eq!(ValueFormat::Percent.format(100.0), "100,0 %");
        assert_eq!(ValueFormat::Minutes.format(1234.5), "1.234,5");
        assert_eq!(ValueFormat::Percent.tick(20.0), "20 %");
        assert_eq!(ValueFormat::Minutes.tick(2500.0), "2.500");
        assert_eq!(ValueFormat::Minutes.tick(0.5), "0,5");
    }

    #[test]
    fn month_labels_use_indonesian_abbreviations() {
        let d = |y, m| chrono::NaiveDate::from_ymd_opt(y, m, 15).unwrap();
        assert_eq!(month_label(&d(2026, 1)), "Jan 26");
        assert_eq!(month_label(&d(2025, 5)), "Mei 25");
        assert_eq!(month_label(&d(2025, 8)), "Agu 25");
        assert_eq!(month_label(&d(2025, 10)), "Okt 25");
        assert_eq!(month_label(&d(2000, 12)), "Des 00");
    }

    #[test]
    fn axis_maximum_is_a_round_step_multiple() {
        assert_eq!(nice_axis(1234.0, 5.0, true), (1500.0, 500.0));
        assert_eq!(nice_axis(7.0, 5.0, true), (8.0, 2.0));
        assert_eq!(nice_axis(3.0, 5.0, true), (3.0, 1.0));
        // Counts never step below 1.
        assert_eq!(nice_axis(0.3, 5.0, true), (1.0, 1.0));
        assert_eq!(nice_axis(100.0, 5.0, false), (100.0, 20.0));
        assert_eq!(nice_axis(0.0, 5.0, true), (1.0, 1.0));
        assert_eq!(nice_axis(f64::NAN, 5.0, false).0, 1.0);
    }

    #[test]
    fn long_labels_are_cut_with_an_ellipsis() {
        let long = "Kebersihan dan persampahan di wilayah Kecamatan Kuta Selatan";
        let cut = fit(long, MAX_LABEL_CHARS, LABEL_SIZE, u32::MAX);
        assert!(cut.ends_with('…'), "{cut}");
        assert!(cut.chars().count() <= MAX_LABEL_CHARS, "{cut}");
        assert!(long.starts_with(cut.trim_end_matches('…')));
        // Short enough: unchanged, newlines flattened.
        assert_eq!(
            fit(
                "3. penyelesaian oleh bidang",
                MAX_LABEL_CHARS,
                LABEL_SIZE,
                u32::MAX
            ),
            "3. penyelesaian oleh bidang"
        );
        assert_eq!(fit("a\nb", MAX_LABEL_CHARS, LABEL_SIZE, u32::MAX), "a b");
        // A pixel limit cuts further.
        let narrow = fit("sarana_prasarana", MAX_LABEL_CHARS, LABEL_SIZE, 60);
        assert!(
            narrow.ends_with('…') && text_width(&narrow, LABEL_SIZE) <= 60,
            "{narrow}"
        );
    }

    // ---- PNG ----------------------------------------------------------------------------

    struct Image {
        width: u32,
        height: u32,
        rgb: Vec<u8>,
    }

    impl Image {
        fn decode(bytes: &[u8]) -> Image {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
            let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
                .read_info()
                .unwrap();
            let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
            let info = reader.next_frame(&mut rgb).unwrap();
            assert_eq!(info.color_type, png::ColorType::Rgb);
            rgb.truncate(info.buffer_size());
            Image {
                width: info.width,
                height: info.height,
                rgb,
            }
        }

        fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
            let i = ((y * self.width + x) * 3) as usize;
            [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
        }

        /// Pixels in the rectangle whose channels are all below 90: text (#222), never the
        /// bars, grid or axes.
        fn dark_pixels(&self, x: std::ops::Range<u32>, y: std::ops::Range<u32>) -> usize {
            y.flat_map(|y| x.clone().map(move |x| (x, y)))
                .filter(|&(x, y)| self.pixel(x, y).iter().all(|&c| c < 90))
                .count()
        }

        fn non_white(&self) -> usize {
            self.rgb.chunks(3).filter(|p| p != &[255, 255, 255]).count()
        }
    }

    #[test]
    fn bar_chart_png_has_the_size_and_rendered_text() {
        let chart = sample_bars();
        let img = Image::decode(&chart.png(640).unwrap());
        assert_eq!((img.width, img.height), (640, chart.height()));
        assert!(img.non_white() > 2000, "blank image");
        // The title (dark text) in the header band; nothing else is drawn there.
        assert!(img.dark_pixels(0..640, 0..HEADER) > 150, "no title text");
        // The category labels left of the bars: dark pixels in the left third.
        assert!(img.dark_pixels(0..200, HEADER..img.height - X_AXIS_AREA) > 300);
        // The first bar (the largest) is in the bar colour somewhere in the top row.
        let row_mid = HEADER + ROW / 2;
        assert!((0..640).any(|x| img.pixel(x, row_mid) == [0x3e, 0x6d, 0x9c]));
    }

    #[test]
    fn bar_chart_grows_with_its_bars() {
        let one = BarChart {
            bars: vec![("a".into(), 1.0)],
            ..sample_bars()
        };
        let twelve = BarChart {
            bars: (0..12)
                .map(|i| (format!("kategori {i}"), i as f64))
                .collect(),
            ..sample_bars()
        };
        assert!(twelve.height() >= one.height() + 11 * ROW);
        let img = Image::decode(&twelve.png(500).unwrap());
        assert_eq!((img.width, img.height), (500, twelve.height()));
        // Hundreds of bars: capped at the maximum image size, still renders.
        let many = BarChart {
            bars: (0..1000).map(|i| (format!("k{i}"), i as f64)).collect(),
            ..sample_bars()
        };
        assert_eq!(many.height(), MAX_SIDE);
        assert_eq!(Image::decode(&many.png(400).unwrap()).height, MAX_SIDE);
    }

    #[test]
    fn trend_png_has_the_requested_size_and_text() {
        let img = Image::decode(&sample_trend().png(760, 360).unwrap());
        assert_eq!((img.width, img.height), (760, 360));
        assert!(img.dark_pixels(0..760, 0..40) > 150, "no title text");
        // Month labels under the plot.
        assert!(img.dark_pixels(80..680, 300..350) > 200, "no month labels");
        // The on-time line colour is present.
        assert!(img.rgb.chunks(3).any(|p| p == [0xa3, 0x45, 0x1c]));
    }

    #[test]
    fn invalid_sizes_are_errors() {
        assert!(matches!(
            sample_bars().png(10),
            Err(ChartError::InvalidSize { width: 10, .. })
        ));
        assert!(matches!(
            sample_bars().svg(MAX_SIDE + 1),
            Err(ChartError::InvalidSize { .. })
        ));
        assert!(matches!(
            sample_trend().png(600, 50),
            Err(ChartError::InvalidSize { height: 50, .. })
        ));
        assert!(sample_trend().svg(600, 0).is_err());
        let msg = sample_bars().png(10).unwrap_err().to_string();
        assert!(msg.contains("ukuran grafik"), "{msg}");
    }

    // ---- SVG ----------------------------------------------------------------------------

    /// Checks that `svg` is well-formed XML as far as this module can break it: balanced
    /// tags with one root, quoted attributes, and every `&` starting a known entity.
    fn assert_well_formed(svg: &str) {
        fn check_entities(s: &str) {
            for (i, _) in s.match_indices('&') {
                let rest = &s[i..];
                assert!(
                    ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                        .iter()
                        .any(|e| rest.starts_with(e)),
                    "bare & at {:?}",
                    &rest[..rest.len().min(20)]
                );
            }
        }
        let mut stack: Vec<&str> = Vec::new();
        let mut roots = 0;
        let mut rest = svg.trim();
        assert!(rest.starts_with("<svg"), "does not start with <svg");
        while let Some(open) = rest.find('<') {
            let text = &rest[..open];
            assert!(!text.contains('>'), "stray > in {text:?}");
            check_entities(text);
            assert!(
                !stack.is_empty() || text.trim().is_empty(),
                "text outside the root"
            );
            let after = &rest[open + 1..];
            // The tag ends at the first '>' outside quotes.
            let mut in_quote = false;
            let end = after
                .char_indices()
                .find(|&(_, c)| {
                    if c == '"' {
                        in_quote = !in_quote;
                    }
                    c == '>' && !in_quote
                })
                .map(|(i, _)| i)
                .expect("unclosed tag");
            let tag = &after[..end];
            assert!(!tag.contains('<'), "< inside tag {tag:?}");
            assert_eq!(tag.matches('"').count() % 2, 0, "odd quotes in {tag:?}");
            check_entities(tag);
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop(), Some(name.trim()), "mismatched </{name}>");
            } else {
                let name = tag
                    .split(|c: char| c.is_whitespace() || c == '/')
                    .next()
                    .unwrap();
                assert!(!name.is_empty(), "empty tag name");
                if stack.is_empty() {
                    roots += 1;
                }
                if !tag.ends_with('/') {
                    stack.push(name);
                }
            }
            rest = &after[end + 1..];
        }
        assert!(rest.trim().is_empty(), "trailing text {rest:?}");
        assert!(stack.is_empty(), "unclosed {stack:?}");
        assert_eq!(roots, 1);
    }

    /// The text content of every `<text>` element.
    fn svg_texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| {
                let body = &t[t.find('>')? + 1..t.find("</text>")?];
                Some(body.trim().to_string())
            })
            .collect()
    }

    /// (cx, cy) of every `<circle>`.
    fn svg_circles(svg: &str) -> Vec<(f64, f64)> {
        let attr = |t: &str, name: &str| -> f64 {
            let start = t.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
            t[start..start + t[start..].find('"').unwrap()]
                .parse()
                .unwrap()
        };
        svg.split("<circle")
            .skip(1)
            .map(|t| {
                let t = &t[..t.find('>').unwrap()];
                (attr(t, "cx"), attr(t, "cy"))
            })
            .collect()
    }

    #[test]
    fn bar_chart_svg_is_well_formed_with_every_label() {
        let chart = sample_bars();
        let svg = chart.svg(640).unwrap();
        assert_well_formed(&svg);
        assert!(svg.contains(r#"width="640""#));
        assert!(svg.contains(&format!(r#"height="{}""#, chart.height())));
        let texts = svg_texts(&svg);
        assert!(texts.contains(&"Aduan per kategori — Januari 2026".to_string()));
        assert!(texts.contains(&"Jumlah aduan".to_string()));
        for label in [
            "sarana_prasarana",
            "Jalan &amp; Jembatan &lt;rusak&gt;",
            "3. penyelesaian oleh bidang",
            "Banjar Tegallalang, Gianyar",
            "lainnya",
        ] {
            assert!(texts.iter().any(|t| t == label), "label {label} missing");
        }
        assert!(!svg.contains("Jalan & Jembatan"), "unescaped &");
        // The long label is cut, not printed whole.
        assert!(!svg.contains("Kuta Selatan"));
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("Kebersihan") && t.ends_with('…'))
        );
        // Values with Indonesian formatting, on the bars and on the axis.
        for value in ["1.234", "987", "456", "78", "5", "0", "1.000", "1.500"] {
            assert!(texts.iter().any(|t| t == value), "value {value} missing");
        }
        assert!(!svg.contains("Tidak ada data"));
        assert_eq!(
            svg.matches(r##"fill="#3E6D9C""##).count(),
            6,
            "one bar per row"
        );
    }

    #[test]
    fn percent_chart_uses_a_fixed_axis_and_percent_values() {
        let chart = BarChart {
            title: "Kepatuhan per langkah".into(),
            axis_label: "Tepat waktu (%)".into(),
            bars: vec![
                ("1. verifikasi".into(), 87.5),
                ("2. disposisi".into(), 30.0),
            ],
            format: ValueFormat::Percent,
            max: Some(100.0),
        };
        let texts = svg_texts(&chart.svg(600).unwrap());
        for t in ["87,5 %", "30,0 %", "0 %", "100 %", "Tepat waktu (%)"] {
            assert!(texts.iter().any(|x| x == t), "{t} missing in {texts:?}");
        }
    }

    #[test]
    fn trend_svg_leaves_a_gap_for_a_month_without_a_share() {
        let chart = sample_trend();
        let svg = chart.svg(760, 360).unwrap();
        assert_well_formed(&svg);
        let texts = svg_texts(&svg);
        assert!(texts.contains(&chart.title));
        for m in &chart.months {
            assert!(texts.contains(&m.label), "month {} missing", m.label);
        }
        assert!(texts.iter().any(|t| t == "1.234"));
        let with_share = chart
            .months
            .iter()
            .filter(|m| m.on_time_pct.is_some())
            .count();
        let mut circles = svg_circles(&svg);
        assert_eq!(
            circles.len(),
            with_share,
            "one point per month with a share"
        );
        circles.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Months 0,1 have points, month 2 none, month 3 again: the step over the gap is two
        // month widths.
        let step = circles[1].0 - circles[0].0;
        let over_gap = circles[2].0 - circles[1].0;
        assert!((over_gap - 2.0 * step).abs() <= 2.0, "{step} {over_gap}");
        // Some(0.0) is a point (at the bottom), not a gap: the lowest point is it.
        let lowest = circles.iter().map(|c| c.1).fold(f64::MIN, f64::max);
        assert!(circles.iter().filter(|c| c.1 == lowest).count() == 1);
        // Three runs of months with a share -> three line pieces, plus the legend swatch.
        assert_eq!(svg.matches(r##"stroke="#A3451C""##).count(), 3 + 1);
        assert!(!svg.contains("Tidak ada data"));
        // Narrower: the labels no longer fit on one line and are split at the space.
        let texts = svg_texts(&chart.svg(520, 320).unwrap());
        assert!(!texts.iter().any(|t| t == "Feb 25"), "{texts:?}");
        assert!(
            texts.iter().any(|t| t == "Feb") && texts.iter().any(|t| t == "25"),
            "{texts:?}"
        );
    }

    // ---- empty and degenerate input -----------------------------------------------------

    #[test]
    fn empty_and_zero_bar_charts_render_a_note() {
        for bars in [
            vec![],
            vec![("a".to_string(), 0.0), ("b".to_string(), 0.0)],
            vec![("negatif".to_string(), -5.0), ("nan".to_string(), f64::NAN)],
        ] {
            let chart = BarChart {
                bars,
                ..sample_bars()
            };
            let svg = chart.svg(400).unwrap();
            assert_well_formed(&svg);
            let texts = svg_texts(&svg);
            assert!(texts.contains(&chart.title));
            assert!(texts.iter().any(|t| t == NOTE), "{texts:?}");
            let img = Image::decode(&chart.png(400).unwrap());
            assert_eq!(img.height, chart.height());
            assert!(img.dark_pixels(0..400, 0..HEADER) > 100);
        }
    }

    #[test]
    fn degenerate_bar_values_and_labels_render() {
        let chart = BarChart {
            title: "Judul <&> \"kutip\" yang sangat panjang sekali sampai tidak muat di lebar gambar yang sempit".into(),
            axis_label: "Menit\nrata-rata".into(),
            bars: vec![
                ("".into(), 1e12),
                ("ᬩᬮᬶ Puri Agung Klungkung".into(), f64::INFINITY),
                ("Ubud 🙂".into(), 0.001),
                ("a\tb\nc".into(), 5.0),
            ],
            format: ValueFormat::Minutes,
            max: Some(f64::NAN),
        };
        let svg = chart.svg(MIN_WIDTH).unwrap();
        assert_well_formed(&svg);
        let texts = svg_texts(&svg);
        assert!(
            texts.iter().any(|t| t == "1.000.000.000.000,0"),
            "{texts:?}"
        );
        assert!(
            texts.iter().any(|t| t == "–"),
            "infinite value printed as a dash"
        );
        assert!(texts.iter().any(|t| t.starts_with("a b c")));
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("Judul &lt;&amp;&gt; &quot;kutip&quot;"))
        );
        let img = Image::decode(&chart.png(MIN_WIDTH).unwrap());
        assert_eq!(img.width, MIN_WIDTH);
        // A fixed maximum below the data clamps the bars, values still printed.
        let over = BarChart {
            max: Some(100.0),
            bars: vec![("lebih".into(), 140.0)],
            format: ValueFormat::Percent,
            ..sample_bars()
        };
        assert!(svg_texts(&over.svg(500).unwrap()).contains(&"140,0 %".to_string()));
    }

    #[test]
    fn empty_and_degenerate_trends_render() {
        let month = |label: &str, complaints, on_time_pct| TrendMonth {
            label: label.into(),
            complaints,
            on_time_pct,
        };
        let cases = [
            (vec![], true),
            (
                vec![month("Jan 26", 0, None), month("Feb 26", 0, None)],
                true,
            ),
            (vec![month("Jan 26", 3, None)], false),
            (vec![month("Jan 26", 3, Some(50.0))], false),
            (
                vec![
                    month("Jan 26", 0, Some(f64::NAN)),
                    month("Feb 26", 1, Some(250.0)),
                ],
                false,
            ),
            (
                (0..36)
                    .map(|i| month(&format!("M{i}"), i * 1000, Some(i as f64)))
                    .collect(),
                false,
            ),
        ];
        for (months, empty) in cases {
            let chart = TrendChart {
                title: "Tren & ringkasan".into(),
                months,
            };
            let svg = chart.svg(400, 240).unwrap();
            assert_well_formed(&svg);
            let texts = svg_texts(&svg);
            assert!(texts.iter().any(|t| t == "Tren &amp; ringkasan"));
            assert_eq!(texts.iter().any(|t| t == NOTE), empty, "{texts:?}");
            let with_share = chart
                .months
                .iter()
                .filter(|m| m.on_time_pct.is_some_and(f64::is_finite))
                .count();
            assert_eq!(svg_circles(&svg).len(), if empty { 0 } else { with_share });
            let img = Image::decode(&chart.png(400, 240).unwrap());
            assert_eq!((img.width, img.height), (400, 240));
            assert!(img.dark_pixels(0..400, 0..40) > 100);
        }
    }
}
