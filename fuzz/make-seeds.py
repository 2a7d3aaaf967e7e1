#!/usr/bin/env python3
"""Writes fuzz/seeds/<target>/ from what the repository already holds: the shared mail corpus
(84 real mails, crates/channel-email/tests/fixtures/corpus, a copy of shared/corpus/mail) and the
e-mail fixtures, the HTML parts of those mails, Meta's documented payload examples
(crates/channel-meta/tests/fixtures), the Bot API's update shapes the Telegram tests use, the
shipped config/, and hand-made form posts and mask inputs. Run from anywhere; it replaces the
seed folders. The seeds are committed: CI does not run this."""
import email, email.policy, json, os, pathlib, re, shutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
MAIL = ROOT / "crates/channel-email/tests/fixtures"


def fresh(target):
    d = SEEDS / target
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def write(d, name, data):
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


# ---- email: every mail of the corpus and every fixture ----
d = fresh("email")
corpus = sorted((MAIL / "corpus").rglob("*.eml"))
assert len(corpus) == 84, len(corpus)
for p in corpus:
    write(d, f"corpus-{p.parent.name}-{p.name}", p.read_bytes())
for p in sorted(MAIL.glob("*.eml")) + sorted((MAIL / "charsets").glob("*.eml")):
    write(d, f"fixture-{p.parent.name}-{p.name}", p.read_bytes())
write(d, "fixture-garbage.bin", (MAIL / "garbage.bin").read_bytes())

# ---- email_html: the HTML parts of those mails ----
d = fresh("email_html")
n = 0
for p in corpus + sorted(MAIL.glob("*.eml")):
    try:
        msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.compat32)
    except Exception:
        continue
    for part in msg.walk():
        if part.get_content_type() != "text/html":
            continue
        body = part.get_payload(decode=True) or b""
        if body.strip():
            n += 1
            write(d, f"{p.parent.name}-{p.stem}-{n}.html", body)
write(d, "blocks.html", "<html><head><title>t</title><style>p{}</style></head><body>"
      "<h1>Judul</h1><p>Satu&nbsp;dua &amp; tiga &#x41;&#66;</p><ul><li>a<li>b</ul>"
      "<table><tr><td>x<td>y</table><pre>  pre\n  kept</pre><br><br><hr>"
      "<!-- c --><script>alert(1)</script><p>akhir</p></body></html>")

# ---- meta: the documented payload examples ----
d = fresh("meta")
for p in sorted((ROOT / "crates/channel-meta/tests/fixtures").glob("*.json")):
    write(d, p.name, p.read_bytes())
write(d, "dashboard_test_field.json", json.dumps({"field": "messages", "value": {
    "messaging_product": "whatsapp", "metadata": {"display_phone_number": "16505551111",
    "phone_number_id": "123456123"}, "contacts": [{"profile": {"name": "test user name"},
    "wa_id": "16315551181"}], "messages": [{"from": "16315551181", "id": "ABGGFlA5Fpa",
    "timestamp": "1504902988", "type": "text", "text": {"body": "this is a text message"}}]}}))
t = 1767225600000
write(d, "messenger_events.json", json.dumps({"object": "page", "entry": [
    {"id": "P", "time": t, "messaging": [
        {"sender": {"id": "U1"}, "recipient": {"id": "P"}, "timestamp": t,
         "reaction": {"mid": "m_x", "action": "react", "emoji": "+", "reaction": "like"}},
        {"sender": {"id": "U1"}, "recipient": {"id": "P"}, "timestamp": t,
         "message": {"mid": "m_att", "text": "foto", "attachments": [
             {"type": "image", "payload": {"url": "https://cdn.example/a.jpg"}},
             {"type": "location", "payload": {"coordinates": {"lat": -8.11, "long": 115.09}}},
             {"type": "fallback", "title": "Tautan", "url": "https://example.org"}]}},
        {"sender": {"id": "U1"}, "recipient": {"id": "P"}, "timestamp": t, "read": {"watermark": t}},
        {"sender": {"id": "P"}, "recipient": {"id": "U1"}, "timestamp": t,
         "message": {"mid": "m_echo", "is_echo": True, "text": "Terima kasih"}},
        {"sender": {"id": "U1"}, "recipient": {"id": "P"}, "timestamp": str(t),
         "message_edit": {"mid": "m_old", "text": "diedit", "num_edit": 1}}]},
    {"id": "P", "time": t, "standby": [{"sender": {"id": "U2"}, "recipient": {"id": "P"},
        "timestamp": t, "message": {"mid": "m_standby", "text": "pesan"}}]},
    {"time": 1681827428517, "id": "0", "messaging": [{"sender": {"id": "12334"},
        "recipient": {"id": "23245"}, "timestamp": "1527459824",
        "message": {"mid": "test_message_id", "text": "test_message"}}]}]}))
write(d, "whatsapp_kinds.json", json.dumps({"object": "whatsapp_business_account", "entry": [{
    "id": "WABA", "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
    "metadata": {"display_phone_number": "6281000000000", "phone_number_id": "106540352242922"},
    "contacts": [{"profile": {"name": "Made"}, "wa_id": "6281234567890"}],
    "messages": [
        {"from": "6281234567890", "id": "wamid.L", "timestamp": "1767225600", "type": "location",
         "location": {"latitude": -8.11, "longitude": 115.09, "name": "Kantor", "address": "Jl. A"}},
        {"from": "6281234567890", "id": "wamid.C", "timestamp": "1767225600", "type": "contacts",
         "contacts": [{"name": {"formatted_name": "Ketut"}, "phones": [{"phone": "+62 812"}]}]},
        {"from": "6281234567890", "id": "wamid.B", "timestamp": "1767225600", "type": "button",
         "button": {"text": "Ya", "payload": "ya"}},
        {"from": "6281234567890", "id": "wamid.I", "timestamp": "1767225600", "type": "interactive",
         "interactive": {"type": "list_reply", "list_reply": {"id": "1", "title": "KTP"}}},
        {"from": "6281234567890", "id": "wamid.D", "timestamp": "1767225600", "type": "document",
         "document": {"id": "7001", "mime_type": "application/pdf", "filename": "kk.pdf", "caption": "KK"}},
        {"from": "6281234567890", "id": "wamid.R", "type": "reaction",
         "reaction": {"message_id": "wamid.X", "emoji": "+"}}],
    "statuses": [{"id": "wamid.OUT", "status": "failed", "timestamp": "1767225600",
        "recipient_id": "6281234567890", "errors": [{"code": 131047, "title": "Re-engagement message"}]}]
    }}]}]}))

# ---- telegram: Bot API updates (https://core.telegram.org/bots/api#update) ----
d = fresh("telegram")
user = {"id": 5, "is_bot": False, "first_name": "Komang", "last_name": "Ayu", "username": "komang"}
chat = {"id": 5, "type": "private", "first_name": "Komang"}


def msg(n, **fields):
    m = {"message_id": 40 + n, "date": 1767225660, "from": user, "chat": chat}
    m.update(fields)
    return {"update_id": 815234000 + n, "message": m}


updates = {
    "text": msg(1, text="Ada pohon tumbang menutup jalan di Desa Panji"),
    "status_command": msg(2, text="/status ADU-202601-0001", entities=[{"offset": 0, "length": 7, "type": "bot_command"}]),
    "start_command": msg(3, text="/start@AduanBot"),
    "photo_album": msg(4, media_group_id="13579246801357924", caption="Jalan rusak ADU-202601-0002", photo=[
        {"file_id": "AgAC_small", "file_unique_id": "AQADs1", "width": 90, "height": 67, "file_size": 1200},
        {"file_id": "AgAC_large", "file_unique_id": "AQADs2", "width": 1280, "height": 960, "file_size": 184000}]),
    "document": msg(5, document={"file_id": "d", "file_unique_id": "u", "file_name": "kk.pdf", "mime_type": "application/pdf", "file_size": 5000}),
    "voice": msg(6, voice={"file_id": "v", "file_unique_id": "u", "duration": 3, "mime_type": "audio/ogg", "file_size": 9000}),
    "video_note": msg(7, video_note={"file_id": "vn", "file_unique_id": "u", "length": 240, "duration": 4}),
    "animation": msg(8, animation={"file_id": "an", "file_unique_id": "u", "width": 1, "height": 1, "duration": 1},
                     document={"file_id": "an", "file_unique_id": "u"}),
    "location": msg(9, location={"latitude": -8.112, "longitude": 115.088}),
    "venue": msg(10, venue={"location": {"latitude": -8.1, "longitude": 115.1}, "title": "Kantor Disdukcapil", "address": "Jl. Pahlawan"}),
    "contact": msg(11, contact={"phone_number": "+6281234567890", "first_name": "Ketut", "user_id": 9}),
    "sticker": msg(12, sticker={"file_id": "s", "file_unique_id": "u", "type": "regular", "width": 512, "height": 512, "is_animated": False, "is_video": False}),
    "poll": msg(13, poll={"id": "p", "question": "?", "options": [], "total_voter_count": 0, "is_closed": False, "is_anonymous": True, "type": "regular", "allows_multiple_answers": False}),
    "reply": msg(14, text="Sudah saya kirim", reply_to_message={"message_id": 40, "date": 1767225600, "chat": chat, "text": "Nomor tiket Anda ADU-202601-0001"}),
    "group": {"update_id": 815234100, "message": {"message_id": 1, "date": 1767225660, "from": user,
              "chat": {"id": -100123, "type": "supergroup", "title": "Warga"}, "text": "halo"}},
    "service": msg(15, new_chat_members=[user]),
    "edited": {"update_id": 815234101, "edited_message": msg(16, text="diedit")["message"]},
    "channel_post": {"update_id": 815234102, "channel_post": {"message_id": 1, "date": 1, "chat": {"id": -1001, "type": "channel", "title": "C"}, "text": "x"}},
    "callback_query": {"update_id": 815234103, "callback_query": {"id": "1", "from": user, "chat_instance": "c", "data": "x"}},
    "reaction": {"update_id": 815234104, "message_reaction": {"chat": chat, "message_id": 41, "date": 1, "old_reaction": [], "new_reaction": [{"type": "emoji", "emoji": "+"}]}},
    "future_kind": {"update_id": 815234105, "some_future_kind": {"x": 1}},
}
for name, u in updates.items():
    write(d, f"{name}.json", json.dumps(u, ensure_ascii=False))

# ---- web_form: path, Content-Type, body ----
d = fresh("web_form")
B = "----aduanfuzz"
form = ("nama=Made+Wirawan&alamat=Jl.+Pahlawan+1%2C+Singaraja&email=made%40example.org"
        "&no_hp=081234567890&sasaran=Disdukcapil&kategori=pelayanan"
        "&isi=Antrean+KTP-el+sangat+lama%2C+sudah+3+jam+menunggu.")
write(d, "form_urlencoded", f"/pengaduan\napplication/x-www-form-urlencoded\n{form}")
write(d, "form_refused", "/pengaduan\napplication/x-www-form-urlencoded\nnama=%3Cscript%3Ex&email=bukan-email&isi=")
mp = (f"--{B}\r\nContent-Disposition: form-data; name=\"nama\"\r\n\r\nKetut <b>Sari</b>\r\n"
      f"--{B}\r\nContent-Disposition: form-data; name=\"isi\"\r\n\r\nLampu jalan mati di depan kantor desa.\r\n"
      f"--{B}\r\nContent-Disposition: form-data; name=\"lampiran\"; filename=\"../foto.jpg\"\r\n"
      f"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0JFIF\r\n"
      f"--{B}\r\nContent-Disposition: form-data; name=\"lampiran\"; filename=\"\"\r\n"
      f"Content-Type: application/octet-stream\r\n\r\n\r\n--{B}--\r\n")
write(d, "form_multipart", f"/pengaduan\nmultipart/form-data; boundary={B}\n{mp}")
write(d, "api_json", "/api/v1/complaints\napplication/json\n" + json.dumps({
    "name": "Luh Putu", "phone": "+62 812-3456-7890", "category": "pelayanan",
    "body": "Akta kelahiran belum jadi setelah 2 minggu."}))
write(d, "api_json_unknown_field", "/api/v1/complaints\napplication/json\n{\"body\":\"x\",\"nik\":\"5108014506900005\"}")
write(d, "message_form", f"/api/v1/complaints/ADU-202601-0001/messages?code=ABCD1234\nmultipart/form-data; boundary={B}\n"
      f"--{B}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nIni jawaban saya\r\n--{B}--\r\n")
write(d, "message_json", "/api/v1/complaints/ADU-202601-0001/messages?code=ABCD1234\napplication/json\n{\"text\":\"halo\"}")
write(d, "rating_form", "/api/v1/complaints/ADU-202601-0001/rating?code=ABCD1234\napplication/x-www-form-urlencoded\nscore=5&comment=cepat")

# ---- config: the shipped configuration and holiday files ----
d = fresh("config")
cfg = (ROOT / "config/aduan.toml").read_text()
cfg_here = re.sub(r'(?m)^holidays = .*$', 'holidays = "holidays-fuzz.toml"', cfg)
cfg_here = re.sub(r'(?m)^templates_dir = .*$', '', cfg_here)
for p in sorted((ROOT / "config").glob("holidays-*.toml")):
    write(d, f"shipped-{p.stem}.txt", cfg_here + "\n%%holidays\n" + p.read_text())
write(d, "shipped-env.txt", cfg_here + "\n%%env\nADUAN__DATABASE__URL=postgres://aduan@127.0.0.1/aduan\n"
      "ADUAN__CHANNELS__EMAIL__PASSWORD=rahasia\nADUAN__SLA__ESCALATE_TO=[\"a@b.id\",\"c@d.id\"]\n"
      "ADUAN__CALENDAR__BUSINESS_HOURS=false\nADUAN__NEW__KEY=42\nADUAN____X=1\n")
write(d, "minimal.txt", '[server]\nlisten = "127.0.0.1:0"\npublic_base_url = "http://127.0.0.1"\n'
      '[database]\nurl = "sqlite::memory:"\n[office]\nname = "Kantor"\ntimezone = "Asia/Makassar"\n'
      'ticket_prefix = "ADU"\n')

# ---- mask: identity lines (name, address, e-mail, phone, handle), then the text ----
d = fresh("mask")
masks = {
    "nik_spellings": "\n\n\n\n\nNIK saya 5108014506900005, KK 5108-0145-0690-0005, NIK5108014506900005, 5108/0145/0690/0005 dan KTP_5108014506900005.",
    "phones": "\n\n\n\n\nHubungi 0812-3456-7890 atau +62 812 3456 7890 atau (0362) 21234 atau HP081234567890.",
    "tickets_and_numbers": "\n\n\n\n\nTiket ADU-202611-0001 dan ADU-202611-123456789012, Rp 50.000, tanggal 12/11/2026 jam 10.30, antrean 123.",
    "identity": "I Made Wirawan\nJl. Pahlawan No. 5, Banjar Dinas Kaja, Desa Panji, Kec. Sukasada\nmade.wirawan@example.org\n+62 812-3456-7890\n@madewira\n"
                "Saya Made Wirawan (Wirawan) tinggal di Jl Pahlawan no 5 Br. Dinas Kaja, Ds Panji. Email MADE.WIRAWAN@EXAMPLE.ORG, WA 0812 3456 7890, akun madewira.",
    "recipient": "\n\nwarga.singaraja@example.net\n\n\n550 5.1.1 <warga.singaraja@example.net>: mailbox unavailable; also tried Warga.Singaraja@Example.NET",
    "email_in_text": "\n\n\n\n\nKirim ke a.b-c+tag@sub.domain.co.id atau nama@desa.id.",
}
for name, text in masks.items():
    write(d, name, text)
print("seeds written:", {p.name: len(list(p.iterdir())) for p in sorted(SEEDS.iterdir())})
