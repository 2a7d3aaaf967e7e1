//! The whole per-complaint procedure through the staff API, on SQLite and PostgreSQL:
//! every step, roles (403), state checks (409), visibility (404), masking and
//! share-identity, and the history with actor and time.

mod common;

use aduan_core::types::Role;
use common::{Backend, Options, TestApp, spawn};
use serde_json::json;

struct Staff {
    staf: String,
    kasi: String,
    dafduk: String,
    capil: String,
    kabid: String,
    kadis: String,
}

async fn staff(app: &TestApp) -> Staff {
    Staff {
        staf: app.user("staf1", Role::Staf, None).await,
        kasi: app.user("kasi1", Role::Kasi, None).await,
        dafduk: app.user("dafduk1", Role::Bidang, Some("dafduk")).await,
        capil: app.user("capil1", Role::Bidang, Some("capil")).await,
        kabid: app.user("kabid1", Role::Kabid, None).await,
        kadis: app.user("kadis1", Role::Kadis, None).await,
    }
}

fn citizen() -> serde_json::Value {
    json!({
        "name": "Ni Made Sari",
        "address": "Jl. Ngurah Rai 12, Singaraja",
        "email": "made.sari@example.com",
        "phone": "081234567890",
        "target": "Loket KTP-el",
        "category": "pelayanan",
        "body": "KTP saya belum jadi sejak dua bulan. NIK saya 5108014502900001, hubungi 0812-3456-7890 atau made.sari@example.com."
    })
}

async fn full_procedure(b: Backend) {
    let app = spawn(Options::new(b)).await;
    let s = staff(&app).await;
    let (ticket, code) = app.submit(citizen()).await;
    assert!(
        ticket.starts_with("ADU-") && ticket.len() == "ADU-202611-0001".len(),
        "{ticket}"
    );

    // Public status: no identity, state triage.
    let (st, v) = app
        .get_json(
            &format!("/api/v1/complaints/{ticket}/status?code={code}"),
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["state"], "triage");
    assert!(!v.to_string().contains("Sari"), "{v}");
    for k in [
        "ticket",
        "state",
        "status",
        "received_at",
        "updated_at",
        "answer",
    ] {
        assert!(v.get(k).is_some(), "{k} missing in {v}");
    }

    // Queue for kasi shows it with a due time.
    let (st, q) = app
        .get_json("/api/v1/admin/queue?state=triage", Some(&s.kasi))
        .await;
    assert_eq!(st, 200);
    let line = q
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["ticket"] == ticket.as_str())
        .unwrap();
    assert_eq!(line["channel"], "web");
    assert!(line["due_at"].is_string());
    assert_eq!(line["breached"], false);

    // Detail suggests dafduk (keyword "ktp").
    let (_, d) = app
        .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(&s.kasi))
        .await;
    assert_eq!(d["suggested_bidang"], "dafduk");
    assert_eq!(d["complainant"]["name"], "Ni Made Sari");

    // Bidang cannot see it before assignment.
    let (st, _) = app
        .get_json(
            &format!("/api/v1/admin/complaints/{ticket}"),
            Some(&s.dafduk),
        )
        .await;
    assert_eq!(st, 404);

    let (st, v) = app
        .act(
            &s.kasi,
            &ticket,
            "assign",
            json!({"bidang": "dafduk", "note": "cek status cetak"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["state"], "in_bidang");

    // The division sees it masked; the other division does not see it at all.
    let (st, d) = app
        .get_json(
            &format!("/api/v1/admin/complaints/{ticket}"),
            Some(&s.dafduk),
        )
        .await;
    assert_eq!(st, 200);
    for k in ["name", "address", "email", "phone", "handle"] {
        assert!(d["complainant"][k].is_null(), "{k} leaked: {d}");
    }
    let text = d.to_string();
    for secret in [
        "Sari",
        "5108014502900001",
        "3456-7890",
        "made.sari@example.com",
    ] {
        assert!(!text.contains(secret), "{secret} leaked to bidang: {text}");
    }
    assert!(d["body"].as_str().unwrap().contains("KTP saya belum jadi"));
    let (st, _) = app
        .get_json(
            &format!("/api/v1/admin/complaints/{ticket}"),
            Some(&s.capil),
        )
        .await;
    assert_eq!(st, 404);
    let (st, q) = app.get_json("/api/v1/admin/queue", Some(&s.capil)).await;
    assert_eq!(st, 200);
    assert!(q.as_array().unwrap().is_empty(), "{q}");
    let (_, q) = app.get_json("/api/v1/admin/queue", Some(&s.dafduk)).await;
    assert_eq!(q.as_array().unwrap().len(), 1);

    // Kasi shares the identity with a reason; now the division sees it.
    let (st, v) = app
        .act(
            &s.kasi,
            &ticket,
            "share-identity",
            json!({"reason": "perlu konfirmasi alamat"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, d) = app
        .get_json(
            &format!("/api/v1/admin/complaints/{ticket}"),
            Some(&s.dafduk),
        )
        .await;
    assert_eq!(d["complainant"]["name"], "Ni Made Sari");

    // Solution, returned once, solved again, approved.
    let (st, v) = app
        .act(
            &s.dafduk,
            &ticket,
            "solution",
            json!({"text": "KTP sudah dicetak, dapat diambil di loket 3."}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["state"], "review");
    let (st, v) = app
        .act(
            &s.kasi,
            &ticket,
            "review",
            json!({"decision": "return", "note": "sebutkan jam layanan"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["state"], "in_bidang");
    let (_, v) = app
        .act(
            &s.dafduk,
            &ticket,
            "solution",
            json!({"text": "KTP sudah dicetak, ambil di loket 3 pukul 08.00-15.00."}),
        )
        .await;
    assert_eq!(v["state"], "review");
    let (_, v) = app
        .act(&s.kasi, &ticket, "review", json!({"decision": "approve"}))
        .await;
    assert_eq!(v["state"], "follow_up");

    // Follow-up closes with status selesai.
    let answer = "KTP-el Anda sudah dicetak dan dapat diambil di loket 3 pukul 08.00-15.00.";
    let (st, v) = app
        .act(&s.staf, &ticket, "follow-up", json!({"message": answer}))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["state"], "closed");
    assert_eq!(v["status"], "selesai");

    // Paraf once.
    let (st, v) = app.act(&s.kabid, &ticket, "sign", json!({})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["paraf"]["by"], "kabid1");
    let (st, v) = app.act(&s.kabid, &ticket, "sign", json!({})).await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["error"]["state"], "closed");

    // The citizen sees the answer.
    let (_, v) = app
        .get_json(
            &format!("/api/v1/complaints/{ticket}/status?code={code}"),
            None,
        )
        .await;
    assert_eq!(v["state"], "closed");
    assert_eq!(v["status"], "selesai");
    assert_eq!(v["answer"], answer);

    // History: every step with actor, time and due time.
    let (_, d) = app
        .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(&s.kasi))
        .await;
    let h = d["history"].as_array().unwrap();
    let actions: Vec<&str> = h.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "receive",
            "assign",
            "share_identity",
            "solution",
            "return",
            "solution",
            "approve",
            "follow_up",
            "sign"
        ]
    );
    let actors: Vec<&str> = h.iter().map(|e| e["actor"].as_str().unwrap()).collect();
    assert_eq!(
        actors,
        [
            "sistem", "kasi1", "kasi1", "dafduk1", "kasi1", "dafduk1", "kasi1", "staf1", "kabid1"
        ]
    );
    let steps: Vec<&str> = h
        .iter()
        .map(|e| e["step"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        steps,
        [
            "receive",
            "triage",
            "-",
            "resolve",
            "review",
            "resolve",
            "review",
            "follow_up",
            "-"
        ]
    );
    for e in h {
        assert!(e["at"].is_string());
        assert!(
            e.get("breached").is_some() && e.get("due_at").is_some() && e.get("state").is_some()
        );
    }
    // kadis may read but not act.
    let (st, _) = app
        .get_json(
            &format!("/api/v1/admin/complaints/{ticket}"),
            Some(&s.kadis),
        )
        .await;
    assert_eq!(st, 200);

    // The month's logbook lists it with the paraf.
    let month = &ticket[4..10];
    let month = format!("{}-{}", &month[..4], &month[4..]);
    let (st, lb) = app
        .get_json(
            &format!("/api/v1/admin/logbook?month={month}&format=json"),
            Some(&s.kabid),
        )
        .await;
    assert_eq!(st, 200, "{lb}");
    let row = &lb["rows"][0];
    assert_eq!(row["ticket"], ticket.as_str());
    assert_eq!(row["status"], "selesai");
    assert_eq!(row["paraf"]["by"], "kabid1");
    let csv = app
        .http
        .get(app.url(&format!("/api/v1/admin/logbook?month={month}&format=csv")))
        .bearer_auth(&s.kasi)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains("Isi Pengaduan & Sumber") && csv.contains(&ticket),
        "{csv}"
    );
    let (st, _) = app
        .get_json(
            &format!("/api/v1/admin/logbook?month={month}&format=json"),
            Some(&s.dafduk),
        )
        .await;
    assert_eq!(st, 403);
}

async fn roles_and_states(b: Backend) {
    let app = spawn(Options::new(b)).await;
    let s = staff(&app).await;
    let (ticket, _) = app.submit(citizen()).await;
    let everyone = [&s.staf, &s.kasi, &s.dafduk, &s.kabid, &s.kadis];

    let actions: [(&str, serde_json::Value, &String); 7] = [
        ("assign", json!({"bidang": "dafduk"}), &s.kasi),
        (
            "close",
            json!({"status": "tidak", "reason": "duplikat"}),
            &s.kasi,
        ),
        ("solution", json!({"text": "x"}), &s.dafduk),
        ("review", json!({"decision": "approve"}), &s.kasi),
        ("follow-up", json!({"message": "x"}), &s.staf),
        ("sign", json!({}), &s.kabid),
        ("share-identity", json!({"reason": "x"}), &s.kasi),
    ];
    for (action, body, right) in &actions {
        for t in everyone {
            if t == *right {
                continue;
            }
            let (st, v) = app.act(t, &ticket, action, body.clone()).await;
            assert_eq!(st, 403, "{action}: {v}");
            assert_eq!(v["error"]["code"], "forbidden");
        }
    }
    // Right role, wrong state → 409 with the state.
    for (action, body, right) in &actions {
        if ["assign", "close"].contains(action) {
            continue;
        }
        let (st, v) = app.act(right, &ticket, action, body.clone()).await;
        if *action == "solution" {
            assert_eq!(st, 404, "bidang cannot see an unassigned complaint: {v}");
        } else {
            assert_eq!(st, 409, "{action}: {v}");
            assert_eq!(v["error"]["state"], "triage");
        }
    }
    // Unauthenticated / bad token / disabled user.
    let (st, v) = app.get_json("/api/v1/admin/queue", None).await;
    assert_eq!(st, 401, "{v}");
    let (st, _) = app.get_json("/api/v1/admin/queue", Some("adu_nope")).await;
    assert_eq!(st, 401);
    let tmp = app.user("temp1", Role::Kasi, None).await;
    app.desk
        .store()
        .disable_user(&aduan_core::types::Username::parse("temp1").unwrap())
        .await
        .unwrap();
    let (st, _) = app.get_json("/api/v1/admin/queue", Some(&tmp)).await;
    assert_eq!(st, 401);

    // Kasi closes (spam) from triage, then nothing but sign works.
    let (st, v) = app
        .act(
            &s.kasi,
            &ticket,
            "close",
            json!({"status": "tidak", "reason": "bukan pengaduan"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "tidak");
    let (st, v) = app
        .act(&s.kasi, &ticket, "assign", json!({"bidang": "dafduk"}))
        .await;
    assert_eq!(st, 409);
    assert_eq!(v["error"]["state"], "closed");
    // Unknown bidang and bad decisions are 422; unknown ticket 404.
    let (ticket2, _) = app.submit(citizen()).await;
    let (st, _) = app
        .act(&s.kasi, &ticket2, "assign", json!({"bidang": "keuangan"}))
        .await;
    assert_eq!(st, 422);
    let (st, _) = app
        .act(
            &s.kasi,
            &ticket2,
            "assign",
            json!({"bidang": "dafduk", "extra": 1}),
        )
        .await;
    assert_eq!(st, 422);
    let (st, _) = app
        .act(
            &s.kasi,
            "ADU-209901-9999",
            "assign",
            json!({"bidang": "dafduk"}),
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = app
        .act(
            &s.kasi,
            "not-a-ticket",
            "assign",
            json!({"bidang": "dafduk"}),
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = app
        .get_json("/api/v1/admin/queue?state=nonsense", Some(&s.kasi))
        .await;
    assert_eq!(st, 400);
}

async fn manual_entry(b: Backend) {
    let app = spawn(Options::new(b)).await;
    let s = staff(&app).await;
    let body = json!({
        "channel": "letter",
        "received_at": "2026-03-02T08:00:00+08:00",
        "name": "I Ketut Arta",
        "body": "Surat keberatan atas pelayanan akta kelahiran.",
        "letter_number": "470/12/III/2026",
        "category": "pelayanan"
    });
    let (st, v) = app
        .post_json("/api/v1/admin/complaints", Some(&s.kasi), body.clone())
        .await;
    assert_eq!(st, 403, "only staf logs manual complaints: {v}");
    let (st, v) = app
        .post_json("/api/v1/admin/complaints", Some(&s.staf), body)
        .await;
    assert_eq!(st, 201, "{v}");
    let ticket = v["ticket"].as_str().unwrap().to_string();
    assert!(
        ticket.starts_with("ADU-202603-"),
        "month of receipt: {ticket}"
    );
    assert_eq!(v["state"], "triage");
    let (_, d) = app
        .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(&s.kasi))
        .await;
    assert_eq!(d["channel"], "letter");
    assert_eq!(d["letter_number"], "470/12/III/2026");
    let h = &d["history"][0];
    assert_eq!(h["action"], "log");
    assert_eq!(h["actor"], "staf1");
    assert_eq!(h["step"], "receive");
    assert_eq!(
        h["breached"], true,
        "logged long after the 10-minute standard: {h}"
    );
    // Digital channels are refused as manual entry; manual channels refused on the API.
    let (st, _) = app
        .post_json(
            "/api/v1/admin/complaints",
            Some(&s.staf),
            json!({"channel": "email", "body": "x"}),
        )
        .await;
    assert_eq!(st, 422);
    let (st, _) = app
        .post_json(
            "/api/v1/admin/complaints",
            Some(&s.staf),
            json!({"channel": "pigeon", "body": "x"}),
        )
        .await;
    assert_eq!(st, 422);
    // A phone complaint answered by phone: follow-up records it, nothing is queued.
    let (st, v) = app
        .post_json(
            "/api/v1/admin/complaints",
            Some(&s.staf),
            json!({"channel": "phone", "body": "Antrian akta lama."}),
        )
        .await;
    assert_eq!(st, 201);
    let t = v["ticket"].as_str().unwrap().to_string();
    app.act(&s.kasi, &t, "assign", json!({"bidang": "capil"}))
        .await;
    app.act(
        &s.capil,
        &t,
        "solution",
        json!({"text": "Antrian ditambah satu loket."}),
    )
    .await;
    app.act(&s.kasi, &t, "review", json!({"decision": "approve"}))
        .await;
    let (st, v) = app
        .act(
            &s.staf,
            &t,
            "follow-up",
            json!({"message": "Dijawab lewat telepon 3/3."}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(v["replies"].as_array().unwrap().is_empty());
    assert_eq!(
        v["messages"].as_array().unwrap().last().unwrap()["direction"],
        "out"
    );
}

async fn concurrent_numbering(b: Backend) {
    let app = spawn(Options::new(b)).await;
    let mut handles = Vec::new();
    for i in 0..120 {
        let http = app.http.clone();
        let url = app.url("/api/v1/complaints");
        handles.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .json(&json!({"body": format!("Pengaduan serentak nomor {i}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            let v: serde_json::Value = r.json().await.unwrap();
            v["ticket"].as_str().unwrap().to_string()
        }));
    }
    let mut tickets = Vec::new();
    for h in handles {
        tickets.push(h.await.unwrap());
    }
    let mut seqs: Vec<u32> = tickets.iter().map(|t| t[11..].parse().unwrap()).collect();
    seqs.sort();
    assert_eq!(seqs, (1..=120).collect::<Vec<_>>());
}

on_both_backends!(
    full_procedure,
    roles_and_states,
    manual_entry,
    concurrent_numbering
);
