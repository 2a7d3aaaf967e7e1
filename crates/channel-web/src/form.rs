//! The complaint form FM-PDIP-03-01: `GET /pengaduan` and `POST /pengaduan` (urlencoded or
//! multipart with attachments).
//!
//! A post is checked field by field before anything is stored ([`aduan_core::fields`]);
//! when it is refused the form comes back with what the citizen typed and one message per
//! field. Every answer of `POST /pengaduan` is a page: a citizen's browser never gets JSON.

use std::collections::BTreeMap;

use aduan_core::desk::{DeskError, MAX_BODY_CHARS};
use aduan_core::fields::{self, Problem};
use aduan_core::intake_outcome::IntakeOutcome;
use aduan_core::model::NewAttachment;
use aduan_core::store::StoreError;
use axum::Form;
use axum::extract::{FromRequest, Multipart, Request, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::Response;
use minijinja::Value;
use serde::Serialize;

use crate::render::{self, page};
use crate::{ComplaintIn, Kind, Web, count, submission};
use aduan_http::ClientAddr;

/// What the citizen typed, always strings (an untouched field is "").
#[derive(Debug, Default, Clone, Serialize)]
pub(crate) struct Typed {
    name: String,
    address: String,
    email: String,
    phone: String,
    target: String,
    category: String,
    body: String,
}

impl Typed {
    fn set(&mut self, field: &str, value: String) {
        let slot = match field {
            "name" | "nama" | "nama_lengkap" => &mut self.name,
            "address" | "alamat" => &mut self.address,
            "email" | "alamat_email" => &mut self.email,
            "phone" | "no_hp" | "hp" => &mut self.phone,
            "target" | "sasaran" | "sasaran_pengaduan" => &mut self.target,
            "category" | "kategori" => &mut self.category,
            "body" | "isi" | "isi_pengaduan" => &mut self.body,
            _ => return, // unknown fields of a browser form are ignored
        };
        *slot = value;
    }

    fn complaint(&self) -> ComplaintIn {
        let opt = |s: &str| Some(s.to_string()).filter(|s| !s.trim().is_empty());
        ComplaintIn {
            name: opt(&self.name),
            address: opt(&self.address),
            email: opt(&self.email),
            phone: opt(&self.phone),
            target: opt(&self.target),
            category: opt(&self.category),
            body: self.body.clone(),
        }
    }
}

/// Order in which field problems are listed (the form's order).
const FIELD_ORDER: [&str; 7] = [
    "name", "address", "email", "phone", "target", "category", "body",
];

/// A refused post: the problems to show beside the fields and above the form.
#[derive(Default)]
struct Refusal {
    fields: BTreeMap<&'static str, Problem>,
    general: Vec<&'static str>,
}

impl Refusal {
    fn general(code: &'static str) -> Self {
        Refusal {
            general: vec![code],
            ..Default::default()
        }
    }
}

impl Web {
    fn form(&self, status: StatusCode, typed: &Typed, refusal: Refusal) -> Response {
        page(
            status,
            "form.html",
            minijinja::context! {
                office => self.desk.config().office_name.clone(),
                v => Value::from(minijinja::value::Serde(typed)),
                errors => Value::from(minijinja::value::Serde(&refusal.fields)),
                general => refusal.general,
                error_order => FIELD_ORDER,
                labels => render::labels(),
                categories => render::categories(),
                max_files => self.cfg.max_attachments,
                max_mb => self.max_mb(),
                email_replies => self.email_replies(),
            },
        )
    }

    /// Can the office answer by e-mail (is there an SMTP sender)?
    pub(crate) fn email_replies(&self) -> bool {
        self.desk
            .config()
            .reply_channels
            .contains(&aduan_core::types::Channel::Email)
    }

    pub(crate) fn max_mb(&self) -> String {
        let mb = self.cfg.max_attachment_bytes as f64 / 1_048_576.0;
        if mb.fract() == 0.0 {
            format!("{mb:.0}")
        } else {
            format!("{mb:.1}").replace('.', ",")
        }
    }
}

pub(crate) async fn form_page(AxState(web): AxState<Web>) -> Response {
    web.form(StatusCode::OK, &Typed::default(), Refusal::default())
}

/// Why reading the post stopped, with what was read until then.
#[derive(Clone, Copy)]
struct ReadError {
    status: StatusCode,
    code: &'static str,
}

const MALFORMED: ReadError = ReadError {
    status: StatusCode::BAD_REQUEST,
    code: "malformed",
};
const TOO_LARGE: ReadError = ReadError {
    status: StatusCode::PAYLOAD_TOO_LARGE,
    code: "too_large",
};

async fn read_form(
    web: &Web,
    req: Request,
    typed: &mut Typed,
    files: &mut Vec<NewAttachment>,
) -> Result<(), ReadError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mp_err = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            TOO_LARGE
        } else {
            MALFORMED
        }
    };
    if ct.starts_with("multipart/form-data") {
        let mut mp = Multipart::from_request(req, &())
            .await
            .map_err(|_| MALFORMED)?;
        while let Some(mut field) = mp.next_field().await.map_err(mp_err)? {
            let name = field.name().unwrap_or("").to_string();
            if is_file_field(&name) || field.file_name().is_some() {
                let filename = field.file_name().unwrap_or("").trim().to_string();
                let content_type = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_string();
                let mut data = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(mp_err)? {
                    if (data.len() + chunk.len()) as u64 > web.cfg.max_attachment_bytes {
                        return Err(TOO_LARGE);
                    }
                    data.extend_from_slice(&chunk);
                }
                if filename.is_empty() && data.is_empty() {
                    continue; // an empty file input
                }
                if files.len() >= web.cfg.max_attachments {
                    return Err(ReadError {
                        status: StatusCode::UNPROCESSABLE_ENTITY,
                        code: "too_many_files",
                    });
                }
                files.push(NewAttachment {
                    filename: sanitize_filename(&filename),
                    content_type,
                    data,
                });
            } else {
                let value = field.text().await.map_err(mp_err)?;
                if value.len() > MAX_BODY_CHARS * 4 {
                    return Err(TOO_LARGE);
                }
                typed.set(&name, value);
            }
        }
        Ok(())
    } else if ct.starts_with("application/x-www-form-urlencoded") {
        let Form(pairs): Form<Vec<(String, String)>> =
            Form::from_request(req, &()).await.map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    TOO_LARGE
                } else {
                    MALFORMED
                }
            })?;
        for (k, v) in pairs {
            typed.set(&k, v);
        }
        Ok(())
    } else {
        Err(ReadError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "malformed",
        })
    }
}

fn is_file_field(name: &str) -> bool {
    matches!(
        name,
        "attachments" | "attachment" | "lampiran" | "file" | "files"
    )
}

/// Keep a safe display name: no path parts or control characters, at most 200 characters.
pub(crate) fn sanitize_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if clean.trim().is_empty() {
        "lampiran".into()
    } else {
        clean
    }
}

pub(crate) async fn form_submit(
    AxState(web): AxState<Web>,
    ClientAddr(ip): ClientAddr,
    req: Request,
) -> Response {
    let mut typed = Typed::default();
    let mut files = Vec::new();
    let read = read_form(&web, req, &mut typed, &mut files).await;
    // Rate limit after reading, so a refused citizen keeps what they typed.
    if let Err(l) = web.rate_check(Kind::Submit, ip) {
        return l.on(web.form(
            StatusCode::TOO_MANY_REQUESTS,
            &typed,
            Refusal::general("rate_limited"),
        ));
    }
    if let Err(e) = read {
        let mut r = Refusal::general(e.code);
        if !files.is_empty() || e.code == "too_large" || e.code == "too_many_files" {
            r.general.push("files_again");
        }
        return web.form(e.status, &typed, r);
    }
    let c = typed.complaint();
    let mut sub = submission(c);
    let problems = fields::check(&sub);
    if !problems.is_empty() {
        count(IntakeOutcome::Rejected);
        let mut r = Refusal {
            fields: problems.iter().map(|p| (p.field, p.problem)).collect(),
            general: vec![],
        };
        if !files.is_empty() {
            r.general.push("files_again");
        }
        return web.form(StatusCode::UNPROCESSABLE_ENTITY, &typed, r);
    }
    // Only promise an e-mail when the office can send one.
    let email = sub.email.is_some() && web.email_replies();
    let n_files = files.len();
    sub.attachments = files;
    sub.skip_ack = web.ack_capped(&sub).await;
    match web.desk.intake().submit(sub).await {
        Ok(r) => {
            count(IntakeOutcome::Accepted);
            // Ticket numbers and access codes are [A-Z0-9-]: nothing to escape in a query.
            let status_href = format!(
                "/pengaduan/status?ticket={}&code={}",
                r.ticket,
                r.access_code.as_deref().unwrap_or("")
            );
            page(
                StatusCode::OK,
                "receipt.html",
                minijinja::context! {
                    office => web.desk.config().office_name.clone(),
                    ticket => r.ticket.to_string(),
                    access_code => r.access_code,
                    email => email,
                    attachments => n_files,
                    status_href,
                },
            )
        }
        Err(DeskError::Invalid { field, .. }) => {
            // The field checks above mirror the desk's; this is a field they missed.
            count(IntakeOutcome::Rejected);
            let field = FIELD_ORDER
                .into_iter()
                .find(|f| *f == field)
                .unwrap_or("body");
            let r = Refusal {
                fields: [(field, Problem::Invalid)].into(),
                general: vec![],
            };
            web.form(StatusCode::UNPROCESSABLE_ENTITY, &typed, r)
        }
        Err(DeskError::Store(StoreError::Unavailable(_) | StoreError::Conflict)) => web.form(
            StatusCode::SERVICE_UNAVAILABLE,
            &typed,
            Refusal::general("unavailable"),
        ),
        Err(e) => {
            tracing::error!(error = %e, "form submission failed");
            web.form(
                StatusCode::INTERNAL_SERVER_ERROR,
                &typed,
                Refusal::general("unavailable"),
            )
        }
    }
}
