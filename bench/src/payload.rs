//! The complaints the load generator files: realistic, all different, all valid.
//!
//! Each request takes the next value `n` of one counter shared by all clients; `n` picks the
//! category (rotating through the four), the target and the text, and is written into the
//! name, e-mail, phone number and the end of the body (`#n`), so that no two bodies are equal
//! and a complaint in the database can be traced back to the request that filed it.

use serde_json::{Value, json};

/// Categories of SOP-PDIP-03, in rotation order.
pub const CATEGORIES: [&str; 4] = [
    "perilaku_pegawai",
    "sarana_prasarana",
    "pelayanan",
    "lain_lain",
];

/// (target, text) pairs per category, same order as [`CATEGORIES`].
const TEXTS: [&[(&str, &str)]; 4] = [
    // perilaku_pegawai
    &[
        (
            "Loket Akta Kelahiran",
            "Petugas di loket akta kelahiran berbicara dengan nada tinggi ketika saya menanyakan \
             kekurangan berkas. Mohon petugas lebih sabar menjelaskan persyaratan kepada warga.",
        ),
        (
            "Loket KK",
            "Saat mengurus perubahan Kartu Keluarga, petugas meminta uang tambahan agar berkas \
             cepat selesai. Setahu saya layanan ini gratis, mohon ditindaklanjuti.",
        ),
        (
            "Petugas Keamanan",
            "Satpam di pintu masuk melarang ibu-ibu membawa anak kecil ke ruang tunggu tanpa \
             alasan yang jelas, padahal di dalam masih banyak kursi kosong.",
        ),
    ],
    // sarana_prasarana
    &[
        (
            "Ruang Tunggu",
            "Kursi di ruang tunggu banyak yang rusak dan AC tidak menyala sejak minggu lalu. \
             Warga lansia terpaksa berdiri lama menunggu panggilan.",
        ),
        (
            "Toilet Kantor",
            "Toilet umum di lantai satu tidak ada air dan pintunya tidak bisa dikunci. Mohon \
             segera diperbaiki karena banyak warga yang antre dari pagi.",
        ),
        (
            "Mesin Antrian",
            "Mesin nomor antrian mati sehingga nomor ditulis tangan oleh petugas dan urutan \
             panggilan jadi kacau. Beberapa warga yang datang belakangan dipanggil lebih dulu.",
        ),
    ],
    // pelayanan
    &[
        (
            "Loket KTP",
            "Antrian KTP elektronik lama sekali, saya datang jam 08.00 baru dilayani jam 13.00. \
             Mohon ditambah petugas perekaman atau dibuka loket tambahan.",
        ),
        (
            "Loket Pindah Datang",
            "Surat keterangan pindah yang saya ajukan dua minggu lalu belum juga selesai, \
             padahal dijanjikan tiga hari kerja. Mohon kejelasan status berkas saya.",
        ),
        (
            "Loket KIA",
            "Pencetakan Kartu Identitas Anak ditunda terus dengan alasan blangko habis. Sudah \
             tiga kali saya bolak-balik dari Seririt tanpa hasil.",
        ),
    ],
    // lain_lain
    &[
        (
            "Website Disdukcapil",
            "Informasi persyaratan akta kematian di website berbeda dengan yang disampaikan \
             petugas di loket. Mohon informasi di website diperbarui.",
        ),
        (
            "Layanan Antrian Online",
            "Aplikasi antrian online sering gagal saat memilih jadwal dan kuota langsung habis \
             dalam beberapa menit. Mohon sistemnya diperbaiki.",
        ),
        (
            "Layanan Jemput Bola",
            "Kami warga Desa Pemuteran berharap layanan jemput bola perekaman KTP-el untuk \
             lansia dan penyandang disabilitas diadakan lagi tahun ini.",
        ),
    ],
];

/// The JSON body of complaint number `n`.
pub fn complaint(n: u64) -> Value {
    let cat = (n % CATEGORIES.len() as u64) as usize;
    let texts = TEXTS[cat];
    let (target, text) = texts[((n / CATEGORIES.len() as u64) % texts.len() as u64) as usize];
    json!({
        "name": format!("Warga {n}"),
        "email": format!("warga{n}@example.test"),
        "phone": format!("0812{:08}", n % 100_000_000),
        "target": target,
        "category": CATEGORIES[cat],
        "body": format!("{text} #{n}"),
    })
}

/// A WhatsApp Cloud API delivery with one text message from a distinct sender (`wamid`
/// unique per `n`), as Meta posts it to the webhook.
pub fn whatsapp(n: u64) -> Value {
    let cat = (n % CATEGORIES.len() as u64) as usize;
    let texts = TEXTS[cat];
    let (_, text) = texts[((n / CATEGORIES.len() as u64) % texts.len() as u64) as usize];
    let wa_id = format!("62812{:08}", n % 100_000_000);
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                    "contacts": [{"profile": {"name": format!("Warga {n}")}, "wa_id": wa_id}],
                    "messages": [{
                        "from": wa_id,
                        "id": format!("wamid.bench{n:012}"),
                        "timestamp": "1767229200",
                        "type": "text",
                        "text": {"body": format!("{text} #{n}")}
                    }]
                }
            }]
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_variation() {
        let c = complaint(17);
        assert_eq!(c["name"], "Warga 17");
        assert_eq!(c["email"], "warga17@example.test");
        assert_eq!(c["phone"], "081200000017");
        assert_eq!(c["category"], CATEGORIES[1]);
        assert!(c["body"].as_str().unwrap().ends_with(" #17"));
        let obj = c.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["body", "category", "email", "name", "phone", "target"]
        );
    }

    #[test]
    fn categories_rotate_and_bodies_differ() {
        let cats: Vec<String> = (0..8)
            .map(|n| complaint(n)["category"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(&cats[..4], CATEGORIES);
        assert_eq!(&cats[4..], CATEGORIES);
        let bodies: std::collections::HashSet<String> = (0..1000)
            .map(|n| complaint(n)["body"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(bodies.len(), 1000);
        // Every text of every category is used.
        let targets: std::collections::HashSet<String> = (0..12)
            .map(|n| complaint(n)["target"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(targets.len(), 12);
    }
}
