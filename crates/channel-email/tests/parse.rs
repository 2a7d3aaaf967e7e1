//! Normalization tests: the channels.md fixture, RFC 3834 negative fixtures, charsets,
//! limits, malformed input, and the 84-message real-world corpus.

use std::path::{Path, PathBuf};

use aduan_channel_email::parse::TRUNCATION_NOTE;
use aduan_channel_email::{AutoKind, InboundMail, Limits, ParseError, normalize};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn raw(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

fn load(name: &str) -> InboundMail {
    normalize(&raw(name), &Limits::default()).unwrap_or_else(|e| panic!("normalize {name}: {e}"))
}

#[test]
fn channels_md_fixture_threading() {
    let m = load("email_inbound.eml");
    assert_eq!(
        m.message_id.as_deref(),
        Some("CAF1234abcd@mail.example.net")
    );
    assert_eq!(
        m.in_reply_to,
        vec!["lpr-2026-00123.7f3a9c@bulelengkab.example"]
    );
    assert_eq!(
        m.references,
        vec!["lpr-2026-00123.7f3a9c@bulelengkab.example"]
    );
    assert_eq!(m.from_address.as_deref(), Some("warga@example.net"));
    assert_eq!(m.from_name.as_deref(), Some("Ni Luh Putu"));
    assert_eq!(m.return_path.as_deref(), Some("warga@example.net"));
    assert_eq!(m.subject, "Re: [LPR-2026-00123] Lampu jalan mati");
    assert_eq!(m.text, "Sampai hari ini lampunya masih mati.");
    assert_eq!(m.auto, AutoKind::Human);
    assert!(m.auto.may_acknowledge());
    // channels.md's example tag has the old YYYY-NNNNN shape; the strict
    // PREFIX-YYYYMM-NNNN regex does not accept it.
    assert_eq!(m.ticket_tag, None);
    assert_eq!(
        m.date.map(|d| d.to_rfc3339()),
        Some("2026-01-01T00:59:58+00:00".to_string())
    );
    assert_eq!(m.content_hash.len(), 64);
    assert!(m.attachments.is_empty() && m.skipped_attachments.is_empty());
}

#[test]
fn reply_with_ticket_tag_and_folded_references() {
    let m = load("reply_with_tag.eml");
    assert_eq!(m.ticket_tag.as_deref(), Some("LPR-202601-0123"));
    assert_eq!(
        m.references,
        vec![
            "lpr-2026-00123.7f3a9c@bulelengkab.example",
            "CAF1234abcd@mail.example.net",
            "0190f3a2-1111-7000-8000-000000000001@bulelengkab.example",
        ]
    );
    assert_eq!(m.reply_to.as_deref(), Some("putu.alt@example.org"));
    assert_eq!(m.reply_address(), Some("putu.alt@example.org"));
    assert!(
        m.text
            .starts_with("Terima kasih, lampu sudah menyala kembali — sangat membantu!")
    );
    assert!(
        m.text.contains("> Pengaduan Anda telah ditindaklanjuti."),
        "quoted history stays"
    );
    assert_eq!(m.auto, AutoKind::Human);
}

#[test]
fn vacation_reply_is_not_acknowledged() {
    let m = load("vacation.eml");
    assert_eq!(m.auto, AutoKind::AutoReplied);
    assert!(!m.auto.may_acknowledge());
    assert_eq!(m.ticket_tag.as_deref(), Some("LPR-202601-0123"));
}

#[test]
fn dsn_yields_original_message_id() {
    let m = load("dsn.eml");
    assert_eq!(m.return_path.as_deref(), Some(""));
    assert_eq!(
        m.auto,
        AutoKind::Bounce {
            original_message_ids: vec![
                "0190f3a2-3333-7000-8000-000000000003@bulelengkab.example".into()
            ]
        }
    );
    assert!(!m.auto.may_acknowledge());
    assert!(m.text.contains("could not"), "{}", m.text);
    // The returned message is kept as an attachment for staff.
    assert!(
        m.attachments
            .iter()
            .any(|a| a.content_type == "message/rfc822")
    );
}

#[test]
fn dsn_with_rfc822_headers_part() {
    let m = load("dsn_headers_only.eml");
    assert_eq!(
        m.auto,
        AutoKind::Bounce {
            original_message_ids: vec![
                "0190f3a2-4444-7000-8000-000000000004@bulelengkab.example".into()
            ]
        }
    );
    // A bounce subject may quote our tag; intake must not thread it as a citizen reply.
    assert_eq!(m.ticket_tag.as_deref(), Some("LPR-202601-0125"));
    assert!(m.text.contains("Delivery has failed"), "{}", m.text);
}

#[test]
fn qmail_bounce_without_dsn() {
    let m = load("qmail_bounce.eml");
    assert_eq!(
        m.auto,
        AutoKind::Bounce {
            original_message_ids: vec![
                "0190f3a2-5555-7000-8000-000000000005@bulelengkab.example".into()
            ]
        }
    );
}

#[test]
fn original_message_id_header() {
    let raw = b"From: Postmaster <postmaster@example.org>\r\nSubject: Returned mail: see transcript\r\n\
Original-Message-ID: <orig-1@bulelengkab.example>\r\nX-Original-Message-ID: <orig-2@bulelengkab.example>\r\n\r\nGagal.\r\n";
    let m = normalize(raw, &Limits::default()).expect("parse");
    assert_eq!(
        m.auto,
        AutoKind::Bounce {
            original_message_ids: vec![
                "orig-1@bulelengkab.example".into(),
                "orig-2@bulelengkab.example".into()
            ]
        }
    );
}

#[test]
fn list_mail_is_bulk() {
    let m = load("list.eml");
    assert_eq!(m.auto, AutoKind::Bulk);
    assert!(!m.auto.may_acknowledge());
    // A List-* header alone is enough.
    let raw = b"From: a@example.org\r\nList-Unsubscribe: <mailto:x@example.org>\r\nSubject: x\r\n\r\nhi\r\n";
    assert_eq!(
        normalize(raw, &Limits::default()).expect("parse").auto,
        AutoKind::Bulk
    );
}

#[test]
fn rfc3834_header_matrix() {
    let case = |headers: &str| {
        let raw = format!("{headers}\r\nSubject: Laporan\r\n\r\nisi\r\n");
        normalize(raw.as_bytes(), &Limits::default())
            .expect("parse")
            .auto
    };
    let human = "From: Warga <warga@example.net>";
    assert_eq!(case(human), AutoKind::Human);
    assert_eq!(
        case(&format!("{human}\r\nAuto-Submitted: no")),
        AutoKind::Human
    );
    assert_eq!(
        case(&format!("{human}\r\nAuto-Submitted: auto-generated")),
        AutoKind::AutoReplied
    );
    assert_eq!(
        case(&format!("{human}\r\nX-Autorespond: yes")),
        AutoKind::AutoReplied
    );
    assert_eq!(
        case(&format!(
            "{human}\r\nX-Auto-Response-Suppress: DR, AutoReply"
        )),
        AutoKind::AutoReplied
    );
    assert_eq!(
        case(&format!("{human}\r\nX-Auto-Response-Suppress: OOF")),
        AutoKind::Human
    );
    assert_eq!(
        case(&format!("{human}\r\nPrecedence: junk")),
        AutoKind::Bulk
    );
    assert_eq!(
        case(&format!("{human}\r\nPrecedence: first-class")),
        AutoKind::Human
    );
    assert_eq!(
        case(&format!("{human}\r\nReturn-Path: <>")),
        AutoKind::Bounce {
            original_message_ids: vec![]
        }
    );
    for sender in [
        "no-reply@bank.example",
        "NoReply@shop.example",
        "do-not-reply@x.example",
        "LISTSERV@lists.example",
        "majordomo@lists.example",
        "warta-request@lists.example",
        "owner-warta@lists.example",
    ] {
        assert_eq!(
            case(&format!("From: {sender}")),
            AutoKind::NoReplySender,
            "{sender}"
        );
    }
    assert!(matches!(
        case("From: MAILER-DAEMON@mx.example"),
        AutoKind::Bounce { .. }
    ));
    assert!(matches!(
        case("From: \"Mail Delivery Subsystem\" <mailer@googlemail.example>"),
        AutoKind::Bounce { .. }
    ));
}

#[test]
fn loop_markers() {
    let raw = b"From: Pengaduan <Pengaduan@bulelengkab.example>\r\nX-Loop: pengaduan@bulelengkab.example\r\nSubject: x\r\n\r\nhi\r\n";
    let m = normalize(raw, &Limits::default()).expect("parse");
    assert_eq!(m.x_loop, vec!["pengaduan@bulelengkab.example"]);
    assert!(m.is_loop(&["pengaduan@bulelengkab.example".to_string()]));
    assert!(!m.is_loop(&["other@bulelengkab.example".to_string()]));
}

#[test]
fn html_only_mail_becomes_text() {
    let m = load("html_only.eml");
    assert_eq!(
        m.text,
        "Yth. Bapak/Ibu,\n\nAda lubang besar di Jl. Ahmad Yani & Jl. Gajah Mada.\n\
         Mohon segera diperbaiki – sudah ada korban.\n\n- Lokasi: depan SD 1\n- Ukuran: ±1 m\n\n\
         Terima kasih,\nBudi"
    );
    assert!(
        !m.text.contains("tracking")
            && !m.text.contains("color")
            && !m.text.contains("ignored title")
    );
}

#[test]
fn iso_8859_1_body_and_encoded_words() {
    let m = load("iso_8859_1.eml");
    assert_eq!(m.subject, "Semáforo avariado");
    assert_eq!(m.from_name.as_deref(), Some("José Araújo"));
    assert_eq!(
        m.text,
        "Olá, o semáforo está avariado. Café na esquina, 25°C. ¡Ay!"
    );
}

#[test]
fn windows_1252_body_and_subject() {
    let m = load("windows_1252.eml");
    assert_eq!(m.subject, "“Lampu” – mati");
    assert_eq!(
        m.text,
        "Saya bilang “lampu mati” – harga €5 … Bapak’s jawaban."
    );
}

#[test]
fn raw_8bit_headers_fall_back_to_windows_1252() {
    let raw = b"From: J\xf6rg <jorg@example.de>\r\nSubject: Die Hasen und die Fr\xf6sche \x96 =?utf-8?q?=E2=9C=93?=\r\n\r\nHallo\r\n";
    let m = normalize(raw, &Limits::default()).expect("parse");
    assert_eq!(m.subject, "Die Hasen und die Frösche – ✓");
    assert_eq!(m.from_name.as_deref(), Some("Jörg"));
    assert_eq!(m.from_address.as_deref(), Some("jorg@example.de"));
    let m = normalize(
        &std::fs::read(fixtures().join("corpus/legacy/010.eml")).expect("read"),
        &Limits::default(),
    )
    .expect("parse");
    assert_eq!(m.subject, "Die Hasen und die Frösche");
}

#[test]
fn utf8_encoded_word_subject_and_base64_body() {
    let m = load("encoded_subject.eml");
    assert_eq!(m.subject, "Pengaduan: jalan rusak — Desa Pémuteran ✓");
    assert_eq!(m.from_name.as_deref(), Some("I Made Wíra"));
    assert_eq!(
        m.text,
        "Jalan di Desa Pémuteran rusak parah — mohon dicek. 🙏"
    );
}

#[test]
fn attachment_over_the_limit_is_skipped() {
    let limits = Limits {
        max_attachment_bytes: 4096,
        ..Limits::default()
    };
    let m = normalize(&raw("attachments.eml"), &limits).expect("parse");
    assert_eq!(m.text, "Terlampir surat dan foto.");
    let names: Vec<&str> = m.attachments.iter().map(|a| a.filename.as_str()).collect();
    assert_eq!(names, vec!["surat.pdf", "lampiran-3.bin"]);
    assert_eq!(m.attachments[0].content_type, "application/pdf");
    assert!(m.attachments[0].data.starts_with(b"%PDF-1.4"));
    assert_eq!(m.attachments[1].data, b"tanpa nama");
    // Directory parts are stripped from the declared name.
    assert_eq!(m.skipped_attachments, vec!["foto besar.jpg"]);

    // Over the count.
    let limits = Limits {
        max_attachments: 1,
        ..Limits::default()
    };
    let m = normalize(&raw("attachments.eml"), &limits).expect("parse");
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(
        m.skipped_attachments,
        vec!["foto besar.jpg", "lampiran-3.bin"]
    );
    // Within both limits all three are kept.
    let m = normalize(&raw("attachments.eml"), &Limits::default()).expect("parse");
    assert_eq!(m.attachments.len(), 3);
    assert_eq!(m.attachments[1].data.len(), 6000);
}

#[test]
fn long_text_is_truncated_not_rejected() {
    let body = "kata ".repeat(5000);
    let raw = format!("From: a@example.net\r\nSubject: panjang\r\n\r\n{body}\r\n");
    let limits = Limits {
        max_text_chars: 100,
        ..Limits::default()
    };
    let m = normalize(raw.as_bytes(), &limits).expect("parse");
    assert!(m.text.ends_with(TRUNCATION_NOTE));
    assert!(m.text.chars().count() <= 100 + 2 + TRUNCATION_NOTE.chars().count());
}

#[test]
fn malformed_input() {
    assert_eq!(normalize(b"", &Limits::default()), Err(ParseError::Empty));
    assert_eq!(
        normalize(b" \r\n\r\n", &Limits::default()),
        Err(ParseError::Empty)
    );
    assert_eq!(
        normalize(&raw("garbage.bin"), &Limits::default()),
        Err(ParseError::NoHeaders)
    );
    assert_eq!(
        normalize(b"just some text\nwithout headers\n", &Limits::default()),
        Err(ParseError::NoHeaders)
    );

    let m = load("truncated_mime.eml");
    assert_eq!(m.subject, "Potongan");
    assert!(m.text.starts_with("Pesan ini terpotong"), "{:?}", m.text);
    assert!(m.text.contains("“batas”"), "{:?}", m.text);
    assert_eq!(m.date, None);

    // Headers only, no blank line, no body.
    let m = normalize(
        b"From: a@example.net\r\nSubject: kosong",
        &Limits::default(),
    )
    .expect("parse");
    assert_eq!(m.subject, "kosong");
    assert_eq!(m.text, "");
}

/// Every prefix and a few corruptions of every fixture and corpus file normalize or fail
/// cleanly, never panic.
#[test]
fn truncations_and_corruptions_never_panic() {
    let mut files = corpus_files();
    for dir in [fixtures(), fixtures().join("charsets")] {
        for entry in std::fs::read_dir(dir).expect("fixtures") {
            let p = entry.expect("entry").path();
            if p.is_file() {
                files.push(p);
            }
        }
    }
    let limits = Limits {
        max_attachment_bytes: 512,
        max_attachments: 2,
        max_text_chars: 300,
        ..Limits::default()
    };
    for f in files {
        let bytes = std::fs::read(&f).expect("read");
        let step = (bytes.len() / 64).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            let _ = normalize(&bytes[..cut], &limits);
        }
        // Flip bytes at a few places.
        let mut b = bytes.clone();
        for i in (0..b.len()).step_by(97) {
            b[i] ^= 0xA5;
        }
        let _ = normalize(&b, &limits);
        // CRLF -> LF and LF -> CR.
        let lf: Vec<u8> = bytes.iter().copied().filter(|&c| c != b'\r').collect();
        let _ = normalize(&lf, &limits);
        let cr: Vec<u8> = lf
            .iter()
            .map(|&c| if c == b'\n' { b'\r' } else { c })
            .collect();
        let _ = normalize(&cr, &limits);
    }
}

fn corpus_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["legacy", "rfc", "thirdparty"] {
        let d = fixtures().join("corpus").join(dir);
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = entry.expect("entry").path();
            if p.extension().is_some_and(|e| e == "eml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn corpus_normalizes_without_panic() {
    let files = corpus_files();
    assert_eq!(files.len(), 84, "corpus size");
    let mut with_text = 0;
    let mut errors = Vec::new();
    let mut report = String::new();
    for f in &files {
        let bytes = std::fs::read(f).expect("read");
        match normalize(&bytes, &Limits::default()) {
            Ok(m) => {
                if !m.text.is_empty() {
                    with_text += 1;
                }
                // Staff must never see raw MIME structure in the text.
                assert!(
                    !m.text.contains("Content-Transfer-Encoding: base64"),
                    "{}",
                    f.display()
                );
                report.push_str(&format!(
                    "{}: text={} att={} skipped={} auto={:?} subject={:?}\n",
                    f.strip_prefix(fixtures()).unwrap_or(f).display(),
                    m.text.chars().count(),
                    m.attachments.len(),
                    m.skipped_attachments.len(),
                    m.auto,
                    m.subject.chars().take(40).collect::<String>()
                ));
            }
            Err(e) => errors.push(format!("{}: {e}", f.display())),
        }
    }
    println!("{report}");
    println!(
        "corpus: {} files, {with_text} with non-empty text, {} errors",
        files.len(),
        errors.len()
    );
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(with_text >= 75, "only {with_text} of 84 produced text");
}

/// Mail in the multi-byte Asian charsets and under common aliases, encoded by another
/// implementation (Python's codecs): subject and sender name as RFC 2047 words, the body
/// as 7bit, 8bit, base64 or quoted-printable text, all decoded.
#[test]
fn asian_charsets_and_aliases_decode() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "iso-2022-jp",
            "住民票の写しが届きません",
            "山田太郎",
            "住民票の写しを申請しましたが、まだ届きません。\n確認をお願いします。",
        ),
        (
            "shift_jis",
            "戸籍謄本の申請について",
            "佐藤花子",
            "戸籍謄本を二週間前に申請しました。\n進捗を教えてください。",
        ),
        (
            "x-sjis",
            "マイナンバーカードの受け取り",
            "鈴木一郎",
            "カードの受け取り日時を知りたいです。",
        ),
        (
            "euc-jp",
            "転入届の手続き",
            "高橋次郎",
            "転入届に必要な書類を教えてください。",
        ),
        (
            "euc-kr",
            "주민등록증 재발급 문의",
            "김민수",
            "주민등록증을 잃어버렸습니다.\n재발급 절차를 알려주세요.",
        ),
        (
            "ks_c_5601-1987",
            "가족관계증명서 발급 지연",
            "이영희",
            "가족관계증명서가 아직 발급되지 않았습니다.",
        ),
        (
            "gb2312",
            "身份证办理进度查询",
            "王小明",
            "我的身份证已经办理一个月了，请问进度如何？",
        ),
        (
            "gbk",
            "户口本信息错误",
            "李华",
            "户口本上的出生日期有误，请帮忙更正。",
        ),
        (
            "gb18030",
            "出生证明补办",
            "张伟",
            "出生证明丢失，需要补办。𠀀",
        ),
        (
            "big5",
            "戶籍謄本申請進度",
            "陳美玲",
            "戶籍謄本申請已經兩週，請問何時可以領取？",
        ),
        (
            "latin1",
            "Akta kelahiran: José Müller",
            "José Müller",
            "Nama anak saya di akta tertulis Jose Muller, seharusnya José Müller.",
        ),
        (
            "cp1252",
            "“Kartu Keluarga” – belum jadi",
            "Søren Ærø",
            "Saya sudah bayar €5 … tapi “KK” belum jadi.",
        ),
        (
            "utf8",
            "Kartu Keluarga — belum jadi 🙏",
            "Ni Luh Putu Ayu",
            "KK saya belum jadi sejak Januari — mohon dibantu 🙏.",
        ),
    ];
    for (file, subject, name, text) in cases {
        let m = load(&format!("charsets/{file}.eml"));
        assert_eq!(m.subject, *subject, "{file}: subject");
        assert_eq!(m.from_name.as_deref(), Some(*name), "{file}: name");
        assert_eq!(m.text, *text, "{file}: text");
        assert_eq!(
            m.from_address,
            Some(format!("warga.{}@example.id", file.replace('_', "-"))),
            "{file}: address"
        );
    }
}

/// Headers written raw in the message's charset (no encoded words) by old Japanese clients.
#[test]
fn raw_headers_in_the_declared_charset() {
    let m = load("charsets/raw_iso-2022-jp_subject.eml");
    assert_eq!(m.subject, "住民票の写し");
    assert_eq!(m.text, "届きません。");
    let m = load("charsets/raw_shift_jis_subject.eml");
    assert_eq!(m.subject, "戸籍謄本の申請");
    assert_eq!(m.from_name.as_deref(), Some("佐藤"));
    assert_eq!(m.from_address.as_deref(), Some("warga.rawsjis@example.id"));
    assert_eq!(m.text, "進捗を教えてください。");
}

/// Real mail of old clients (the corpus): 8-bit bytes inside an encoded word, an attachment
/// name in raw 8-bit, a UTF-8 label over Latin-1 bytes, no label over 8-bit text, a UTF-7
/// header — read as the sender meant, no U+FFFD and no mojibake.
#[test]
fn mislabelled_legacy_mail_reads_right() {
    let corpus = |f: &str| {
        normalize(
            &std::fs::read(fixtures().join("corpus").join(f)).expect("read"),
            &Limits::default(),
        )
        .expect("parse")
    };
    // `=?iso-8859-1?Q?Die_Hasen_und_die_Fr\xf6sche?=`
    for f in ["legacy/009.eml", "legacy/015.eml", "legacy/023.eml"] {
        assert_eq!(corpus(f).subject, "Die Hasen und die Frösche", "{f}");
    }
    // `filename="HasenundFr\xf6sche.txt"`
    let m = corpus("legacy/016.eml");
    let names: Vec<&str> = m.attachments.iter().map(|a| a.filename.as_str()).collect();
    assert_eq!(names, vec!["blueball.png", "HasenundFrösche.txt"]);
    // `charset=UTF-8` over quoted-printable Latin-1; no charset over raw 8-bit text.
    for f in ["legacy/033.eml", "legacy/052.eml"] {
        let m = corpus(f);
        assert!(
            m.text.starts_with(
                "Die Hasen und die Frösche\n\nDie Hasen klagten einst über ihre mißliche Lage;"
            ),
            "{f}: {:?}",
            m.text
        );
        assert!(!m.text.contains('\u{fffd}'), "{f}");
    }
    // `Subject: Die Hasen und die Fr+APY-sche` in a UTF-7 message.
    assert_eq!(
        corpus("legacy/034.eml").subject,
        "Die Hasen und die Frösche"
    );
    // A UTF-8 label over valid UTF-8 with one stray byte keeps the valid text.
    let raw = b"From: a@example.id\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nJalan rusak \xe2\x80\x94 parah \xe9 sekali\r\n";
    assert_eq!(
        normalize(raw, &Limits::default()).expect("parse").text,
        "Jalan rusak — parah é sekali"
    );
}

/// In-Reply-To and References sent as RFC 2047 encoded words around the Message-IDs.
#[test]
fn encoded_word_in_reply_to_and_references() {
    let raw = b"From: Budi <budi@example.id>\r\n\
In-Reply-To: =?UTF-8?B?PENBK2FiY0BtYWlsLmdtYWlsLmNvbT4=?=\r\n\
References: =?UTF-8?B?PHgxQGEuYj4=?=\r\n =?UTF-8?B?PENBK2FiY0BtYWlsLmdtYWlsLmNvbT4=?=\r\n\
Subject: Re: Akta\r\n\r\nIsi\r\n";
    let m = normalize(raw, &Limits::default()).expect("parse");
    assert_eq!(m.in_reply_to, vec!["CA+abc@mail.gmail.com"]);
    assert_eq!(m.references, vec!["x1@a.b", "CA+abc@mail.gmail.com"]);

    // Q encoding, an encoded word beside a plain id, and an id without angle brackets.
    let raw = b"From: budi@example.id\r\n\
In-Reply-To: =?utf-8?Q?=3C0190f3a2-1111@bulelengkab.example=3E?=\r\n\
References: <first@warga.example> =?utf-8?q?=3Csecond@warga.example=3E?= =?UTF-8?B?dGhpcmRAd2FyZ2EuZXhhbXBsZQ==?=\r\n\r\nIsi\r\n";
    let m = normalize(raw, &Limits::default()).expect("parse");
    assert_eq!(m.in_reply_to, vec!["0190f3a2-1111@bulelengkab.example"]);
    assert_eq!(
        m.references,
        vec!["first@warga.example", "second@warga.example"]
    );
    let raw = b"From: budi@example.id\r\nIn-Reply-To: =?UTF-8?B?dGhpcmRAd2FyZ2EuZXhhbXBsZQ==?=\r\n\r\nIsi\r\n";
    assert_eq!(
        normalize(raw, &Limits::default())
            .expect("parse")
            .in_reply_to,
        vec!["third@warga.example"]
    );
    // A word that decodes to no id gives none, never the encoded text.
    let raw = b"From: budi@example.id\r\nIn-Reply-To: =?UTF-8?B?dGlkYWsgYWRh?=\r\n\r\nIsi\r\n";
    assert!(
        normalize(raw, &Limits::default())
            .expect("parse")
            .in_reply_to
            .is_empty()
    );
    // Plain headers are as before.
    let m = load("reply_with_tag.eml");
    assert_eq!(m.references.len(), 3);
}

/// The first mailbox of From may be empty (`"" <>`, `Budi <>`, `<@>`, an empty group, an
/// encoded empty name): the next usable address is the sender, with its own name.
#[test]
fn first_usable_from_mailbox() {
    let cases: &[(&[u8], Option<&str>, Option<&str>)] = &[
        (
            b"From: \"\" <>, Budi <budi@example.id>",
            Some("Budi"),
            Some("budi@example.id"),
        ),
        (
            b"From: Budi <>, <budi@example.id>",
            None,
            Some("budi@example.id"),
        ),
        (
            b"From: \"Warga\" <@>, Budi <budi@example.id>",
            Some("Budi"),
            Some("budi@example.id"),
        ),
        (
            b"From: Kantor <invalid>, Budi <budi@example.id>",
            Some("Budi"),
            Some("budi@example.id"),
        ),
        (
            b"From: =?utf-8?q??= <>, =?utf-8?q?B=C3=BCdi?= <budi@example.id>",
            Some("Büdi"),
            Some("budi@example.id"),
        ),
        (
            b"From: \"J\xf6rg\" <>, J\xf6rg M <jorg@example.de>",
            Some("Jörg M"),
            Some("jorg@example.de"),
        ),
        (
            b"From: undisclosed-recipients:;, Budi <budi@example.id>",
            Some("Budi"),
            Some("budi@example.id"),
        ),
        (
            b"From: Tim: \"\" <>, Budi <budi@example.id>;",
            Some("Budi"),
            Some("budi@example.id"),
        ),
        // No usable From at all: the Sender.
        (
            b"From: <>\r\nSender: Budi <budi@example.id>",
            Some("Budi"),
            Some("budi@example.id"),
        ),
        (
            b"From: Whomever\r\nSender: budi@example.id",
            None,
            Some("budi@example.id"),
        ),
        // Nothing usable anywhere: what there is, for the classification.
        (
            b"From: Moderator-Address <moderator>",
            Some("Moderator-Address"),
            Some("moderator"),
        ),
        (b"From: Whomever", Some("Whomever"), None),
    ];
    for (headers, name, address) in cases {
        let raw = [*headers, b"\r\nSubject: Akta\r\n\r\nIsi\r\n"].concat();
        let m = normalize(&raw, &Limits::default()).expect("parse");
        let shown = String::from_utf8_lossy(headers);
        assert_eq!(m.from_address.as_deref(), *address, "{shown}");
        assert_eq!(m.from_name.as_deref(), *name, "{shown}");
    }
    let raw = b"From: budi@example.id\r\nReply-To: \"\" <>, Budi Kantor <budi.kantor@example.id>\r\n\r\nIsi\r\n";
    let m = normalize(raw, &Limits::default()).expect("parse");
    assert_eq!(m.reply_to.as_deref(), Some("budi.kantor@example.id"));
}

/// One stray line before the headers — an mbox `From ` separator, `>From `, blank lines, a
/// line of junk — is not part of the message; two are not a message.
#[test]
fn a_stray_line_before_the_headers_is_tolerated() {
    let message = b"From: Budi <budi@example.id>\r\nMessage-ID: <stray@example.id>\r\nSubject: Akta\r\n\r\nIsi pengaduan.\r\n";
    for prefix in [
        &b"From budi@example.id Mon Jan  5 09:00:00 2026\r\n"[..],
        b"From MAILER-DAEMON Mon Jan  5 09:00:00 2026\n",
        b">From budi@example.id Mon Jan  5 09:00:00 2026\r\n",
        b"\r\n",
        b"\n\r\n\r\n",
        b"   \r\n",
        b"+OK 1234 octets\r\n",
    ] {
        let raw = [prefix, &message[..]].concat();
        let m = normalize(&raw, &Limits::default())
            .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(prefix)));
        let shown = String::from_utf8_lossy(prefix);
        assert_eq!(
            m.from_address.as_deref(),
            Some("budi@example.id"),
            "{shown}"
        );
        assert_eq!(m.message_id.as_deref(), Some("stray@example.id"), "{shown}");
        assert_eq!(m.subject, "Akta", "{shown}");
        assert_eq!(m.text, "Isi pengaduan.", "{shown}");
        // The hash is of the bytes as delivered (redelivery deduplicates the same way).
        assert_eq!(m.content_hash, hex_sha256(&raw), "{shown}");
    }
    let raw = [&b"junk\r\nmore junk\r\n"[..], &message[..]].concat();
    assert_eq!(
        normalize(&raw, &Limits::default()),
        Err(ParseError::NoHeaders)
    );
}

fn hex_sha256(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}
