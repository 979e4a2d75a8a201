//! Contract suites of the knowledge base's ports: the document store
//! (SQLite always; MySQL and MongoDB when `MCP_TEST_MYSQL_URL` /
//! `MCP_TEST_MONGODB_URL` are set) and the embedded vector index's own
//! promises (persistence across restarts, dimension per collection).

use std::sync::Arc;

use chrono::Utc;
use mcp_platform::adapters::embedded::FlatIndex;
use mcp_platform::adapters::sql::SqlStore;
use mcp_platform::error::Error;
use mcp_platform::ports::{
    ChunkPayload, DocumentFilter, DocumentStatus, DocumentStore, PageRequest, StoredDocument,
    VectorFilter, VectorIndex, VectorPoint,
};
use mcp_platform_tests::backends::{self, MongoDatabase, MysqlDatabase};
use mcp_platform_tests::tempdir::TempDir;
use uuid::Uuid;

struct Store {
    name: &'static str,
    store: Arc<dyn DocumentStore>,
    _dir: Option<TempDir>,
    _mysql: Option<MysqlDatabase>,
    _mongo: Option<MongoDatabase>,
}

async fn sqlite(dir: &TempDir) -> SqlStore {
    let s = SqlStore::connect_sqlite_file(&dir.0.join("knowledge.db"))
        .await
        .expect("sqlite opens");
    s.migrator().run(s.pool()).await.expect("sqlite migrates");
    s
}

async fn stores() -> Vec<Store> {
    let dir = TempDir::new();
    let mut out = vec![Store {
        name: "sqlite",
        store: Arc::new(sqlite(&dir).await),
        _dir: Some(dir),
        _mysql: None,
        _mongo: None,
    }];
    if let Some(url) = backends::mysql_url() {
        let db = MysqlDatabase::create(&url).await;
        let s = SqlStore::connect(&db.url).await.expect("mysql connects");
        s.migrator().run(s.pool()).await.expect("mysql migrates");
        out.push(Store {
            name: "mysql",
            store: Arc::new(s),
            _dir: None,
            _mysql: Some(db),
            _mongo: None,
        });
    }
    if let Some(url) = backends::mongodb_url() {
        let db = MongoDatabase::create(&url).await;
        out.push(Store {
            name: "mongodb",
            store: Arc::new(db.store().await),
            _dir: None,
            _mysql: None,
            _mongo: Some(db),
        });
    }
    out
}

fn document(title: &str, owner: Option<Uuid>, public: bool, tags: &[&str]) -> StoredDocument {
    let now = mcp_platform::domain::now();
    StoredDocument {
        id: Uuid::new_v4(),
        collection: "documents".into(),
        title: title.into(),
        content: format!("{title} content. Second sentence."),
        source: Some("docs".into()),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        language: Some("en".into()),
        tool_id: None,
        owner_id: owner,
        public,
        status: DocumentStatus::Pending,
        embedding_model: None,
        chunks: vec![format!("{title} content."), "Second sentence.".into()],
        created_at: now,
        updated_at: now,
    }
}

const PAGE: PageRequest = PageRequest {
    page: 1,
    page_size: 50,
};

#[tokio::test]
async fn a_stored_document_reads_back_equal_with_its_chunks_and_is_replaced_by_a_put() {
    for s in stores().await {
        let mut d = document("Alpha", Some(Uuid::new_v4()), false, &["a", "b_c"]);
        d.tool_id = Some(Uuid::new_v4());
        s.store.put(&d).await.expect("put");
        let back = s
            .store
            .get("documents", d.id)
            .await
            .expect("get")
            .expect("found");
        assert_eq!(back, d, "{}", s.name);
        assert!(
            s.store.get("tools", d.id).await.expect("get").is_none(),
            "{}: collections are apart",
            s.name
        );
        d.chunks = vec!["only one".into()];
        d.title = "Alpha 2".into();
        s.store.put(&d).await.expect("put again");
        let back = s
            .store
            .get("documents", d.id)
            .await
            .expect("get")
            .expect("found");
        assert_eq!(back.chunks, ["only one"], "{}: old chunks are gone", s.name);
        assert_eq!(back.title, "Alpha 2");
    }
}

#[tokio::test]
async fn listing_filters_pages_and_hides_documents_being_deleted() {
    for s in stores().await {
        let ada = Uuid::new_v4();
        let bob = Uuid::new_v4();
        let docs = [
            document("A1", Some(ada), false, &["x"]),
            document("A2", Some(ada), true, &["y"]),
            document("B1", Some(bob), false, &["x_y"]),
            document("B2", Some(bob), false, &["x"]),
        ];
        for d in &docs {
            s.store.put(d).await.expect("put");
        }
        let all = s
            .store
            .list("documents", &DocumentFilter::default(), PAGE)
            .await
            .expect("list");
        assert_eq!(all.total, 4, "{}", s.name);
        let mine = DocumentFilter {
            visible_to: Some(ada),
            ..Default::default()
        };
        let seen = s.store.list("documents", &mine, PAGE).await.expect("list");
        assert_eq!(seen.total, 2, "{}: ada sees her two", s.name);
        let bobs = DocumentFilter {
            visible_to: Some(bob),
            ..Default::default()
        };
        let seen: Vec<String> = s
            .store
            .list("documents", &bobs, PAGE)
            .await
            .expect("list")
            .items
            .into_iter()
            .map(|d| d.title)
            .collect();
        assert_eq!(
            seen.len(),
            3,
            "{}: bob sees his two and ada's public one: {seen:?}",
            s.name
        );
        // `x` is an exact tag: `x_y` does not match (LIKE wildcards are escaped).
        let tagged = DocumentFilter {
            tag: Some("x".into()),
            ..Default::default()
        };
        assert_eq!(
            s.store
                .list("documents", &tagged, PAGE)
                .await
                .expect("list")
                .total,
            2,
            "{}",
            s.name
        );
        let page = s
            .store
            .list(
                "documents",
                &DocumentFilter::default(),
                PageRequest {
                    page: 2,
                    page_size: 3,
                },
            )
            .await
            .expect("list");
        assert_eq!((page.total, page.items.len()), (4, 1), "{}", s.name);
        assert!(page.items[0].chunks.is_empty(), "listings carry no chunks");
        assert!(s
            .store
            .set_status("documents", docs[0].id, DocumentStatus::Deleting, None)
            .await
            .expect("mark"));
        assert!(
            !s.store
                .set_status("documents", docs[0].id, DocumentStatus::Indexed, Some("m"))
                .await
                .expect("mark"),
            "{}: a deleting document stays deleting",
            s.name
        );
        assert_eq!(
            s.store
                .list("documents", &DocumentFilter::default(), PAGE)
                .await
                .expect("list")
                .total,
            3,
            "{}",
            s.name
        );
        let stamp = s.store.stamp("documents").await.expect("stamp");
        assert!(s
            .store
            .delete("documents", docs[0].id)
            .await
            .expect("delete"));
        assert!(!s
            .store
            .delete("documents", docs[0].id)
            .await
            .expect("delete twice"));
        assert_ne!(
            s.store.stamp("documents").await.expect("stamp"),
            stamp,
            "{}: a delete changes the stamp",
            s.name
        );
    }
}

#[tokio::test]
async fn set_status_records_the_model_and_scan_visits_every_document_once() {
    for s in stores().await {
        let mut ids = Vec::new();
        for i in 0..7 {
            let mut d = document(&format!("D{i}"), None, true, &[]);
            if i % 2 == 0 {
                d.collection = "tools".into();
            }
            s.store.put(&d).await.expect("put");
            ids.push(d.id);
        }
        assert!(s
            .store
            .set_status(
                "documents",
                ids[1],
                DocumentStatus::Indexed,
                Some("model@8")
            )
            .await
            .expect("set"));
        let back = s
            .store
            .get("documents", ids[1])
            .await
            .expect("get")
            .expect("found");
        assert_eq!(
            (back.status, back.embedding_model.as_deref()),
            (DocumentStatus::Indexed, Some("model@8")),
            "{}",
            s.name
        );
        assert!(!s
            .store
            .set_status("documents", Uuid::new_v4(), DocumentStatus::Indexed, None)
            .await
            .expect("set"));
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = s.store.scan(after, 3).await.expect("scan");
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            assert!(
                page.iter().all(|d| d.chunks.len() == 2),
                "scans carry chunks"
            );
            seen.extend(page.into_iter().map(|d| d.id));
        }
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!(seen, expected, "{}: every document once, by id", s.name);
    }
}

fn point(
    document_id: Uuid,
    i: u32,
    vector: Vec<f32>,
    tags: &[&str],
    owner: Option<Uuid>,
    public: bool,
) -> VectorPoint {
    VectorPoint {
        id: mcp_platform::knowledge::point_id(document_id, i as usize),
        vector,
        payload: ChunkPayload {
            document_id,
            chunk_index: i,
            title: "t".into(),
            source: Some("s".into()),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            tool_id: None,
            owner_id: owner,
            public,
            created_at: Utc::now(),
        },
    }
}

#[tokio::test]
async fn the_embedded_index_persists_its_points_and_enforces_one_dimension() {
    let dir = TempDir::new();
    let store = sqlite(&dir).await;
    let index = FlatIndex::open(store.clone()).await.expect("open");
    index.ensure_collection("c", 3).await.expect("create");
    index.ensure_collection("c", 3).await.expect("idempotent");
    assert!(matches!(
        index.ensure_collection("c", 4).await,
        Err(Error::Conflict { .. })
    ));
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let owner = Uuid::new_v4();
    index
        .upsert(
            "c",
            vec![
                point(a, 0, vec![1.0, 0.0, 0.0], &["x"], Some(owner), false),
                point(b, 0, vec![0.0, 1.0, 0.0], &["y"], None, true),
            ],
        )
        .await
        .expect("upsert");
    let bad = index
        .upsert("c", vec![point(b, 1, vec![1.0, 0.0], &[], None, true)])
        .await;
    assert!(
        matches!(bad, Err(Error::Validation(_))),
        "a 2-d vector in a 3-d collection"
    );
    assert!(matches!(
        index
            .search("c", &[1.0, 0.0], &VectorFilter::default(), 5)
            .await,
        Err(Error::Validation(_))
    ));

    // Reopened from the same database: the same points, the same answers.
    let reopened = FlatIndex::open(store.clone()).await.expect("reopen");
    assert_eq!(reopened.len("c"), 2);
    let hits = reopened
        .search("c", &[0.9, 0.1, 0.0], &VectorFilter::default(), 5)
        .await
        .expect("search");
    assert_eq!(
        hits.iter()
            .map(|h| h.payload.document_id)
            .collect::<Vec<_>>(),
        [a, b]
    );
    assert!(hits[0].score > hits[1].score);
    let strangers = VectorFilter {
        visible_to: Some(Uuid::new_v4()),
        ..Default::default()
    };
    let hits = reopened
        .search("c", &[1.0, 0.0, 0.0], &strangers, 5)
        .await
        .expect("search");
    assert_eq!(
        hits.iter()
            .map(|h| h.payload.document_id)
            .collect::<Vec<_>>(),
        [b],
        "a's point is private"
    );
    let tagged = VectorFilter {
        tags: vec!["x".into(), "z".into()],
        ..Default::default()
    };
    assert_eq!(
        reopened
            .search("c", &[0.0, 1.0, 0.0], &tagged, 5)
            .await
            .expect("search")
            .len(),
        1
    );
    assert!(
        matches!(
            reopened.ensure_collection("c", 5).await,
            Err(Error::Conflict { .. })
        ),
        "the dimension persisted too"
    );

    reopened.delete_document("c", a).await.expect("delete");
    let again = FlatIndex::open(store.clone()).await.expect("reopen");
    assert_eq!(again.len("c"), 1, "the delete persisted");
    again.drop_collection("c").await.expect("drop");
    let last = FlatIndex::open(store).await.expect("reopen");
    assert_eq!(last.len("c"), 0);
    last.ensure_collection("c", 5)
        .await
        .expect("a dropped collection may come back with another dimension");
}
