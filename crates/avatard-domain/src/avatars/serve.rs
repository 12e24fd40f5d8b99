//! What `/avatar/...` shows (R6.4–R6.8): a user's stored avatar, a rendition of it at `?size=`, or
//! their initials, each with a strong validator.
//!
//! Serving is the hot path, so a request for a known user touches neither the database nor the
//! blob store nor an encoder once it has been served before: the user comes from the
//! [`Directory`](crate::directory), and every representation is cached under a key that names its
//! content (the blob key, or the initials' inputs). Such a key's bytes never change, so the cache
//! needs no invalidation: a new avatar has a new key, and the directory entry that led to the old
//! one is dropped by the avatar event that announced the change.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock, Weak};

use avatard_imaging::{AvatarOptions, Encoding, Format, Limits, initials};
use bytes::Bytes;

use super::Avatars;
use super::provider::Proxied;
use crate::directory::{Displayed, Key};
use crate::error::{Error, Result};
use crate::ids;
use crate::model::AvatarRecord;

/// `Last-Modified` of every generated initials image, and the `If-Modified-Since` value that gets a
/// 304 for it (R6.4 step 6).
pub const INITIALS_LAST_MODIFIED: &str = "Thu, 01 Jan 2015 00:00:00 GMT";

/// Bytes to send and how to describe and validate them.
#[derive(Debug)]
pub struct Representation {
    pub body: Bytes,
    pub content_type: &'static str,
    /// A strong entity tag, quoted, unique to these bytes.
    pub etag: String,
    /// `Last-Modified`, as Rocket.Chat sends it.
    pub last_modified: String,
    /// For a stored avatar and its renditions, the avatar's version (its `avatarETag`).
    pub version: Option<String>,
    pub presentation: Presentation,
    /// The smaller of width and height, for a stored image; renditions are never larger.
    pub(super) shorter_side: Option<u32>,
    /// Whether a stored image is animated: renditions in formats that cannot animate are stills,
    /// so content negotiation does not offer those.
    pub(super) animated: bool,
}

/// What the layer that sends a representation derives from it once (avatard-http: its response
/// headers), kept as long as the representation is. The domain never looks inside.
#[derive(Default)]
pub struct Presentation(OnceLock<Box<dyn Any + Send + Sync>>);

impl Presentation {
    /// The value `make` gave on first use; `None` if the slot holds another type (one layer
    /// presents representations, so it never does).
    pub fn get_or_init<T: Any + Send + Sync>(&self, make: impl FnOnce() -> T) -> Option<&T> {
        self.0.get_or_init(|| Box::new(make())).downcast_ref()
    }
}

impl fmt::Debug for Presentation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Presentation")
    }
}

/// A user's stored file as last served, beside their directory entry; that entry is dropped when
/// the avatar changes, so this never outlives the record it belongs to. Weak: the bytes stay
/// owned, and bounded, by the representation cache.
#[derive(Debug, Default)]
pub struct StoredFile(RwLock<Weak<Representation>>);

impl StoredFile {
    fn get(&self) -> Option<Arc<Representation>> {
        self.0.read().ok()?.upgrade()
    }

    fn remember(&self, image: &Arc<Representation>) {
        if let Ok(mut slot) = self.0.write() {
            *slot = Arc::downgrade(image);
        }
    }
}

/// What the server shows for an avatar request.
#[derive(Debug)]
pub enum AvatarView {
    /// An uploaded avatar (or a rendition of it).
    Stored {
        image: Arc<Representation>,
        /// The format was chosen from the request's `Accept` (no `?format=`): caches must
        /// `Vary: Accept`.
        negotiated: bool,
    },
    /// A generated initials image.
    Initials {
        image: Arc<Representation>,
        /// Whether the constant `If-Modified-Since` may answer 304 (not for `@name` requests).
        revalidate: bool,
    },
    /// `/avatar/uid/<id>` of a user that does not exist.
    NotFound,
    /// The external avatar provider's answer (R6.7).
    Proxied(Arc<Proxied>),
    /// The external avatar provider failed or answered without an image (502).
    ProviderFailed,
}

/// The representation a request asks for besides the user: the raw `?size=` and `?format=`, the
/// avatar version (`?etag=`) the client believes current, and the `Accept` header.
#[derive(Clone, Copy, Debug, Default)]
pub struct Variant<'a> {
    pub size: Option<&'a str>,
    pub format: Option<&'a str>,
    pub version: Option<&'a str>,
    pub accept: Option<&'a str>,
}

/// Names a representation by everything that determines its bytes.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(super) enum RepresentationKey {
    /// A stored avatar; `size` and `encoding` are `None` for the stored file itself.
    Stored {
        blob_key: String,
        size: Option<u32>,
        encoding: Option<Encoding>,
    },
    Initials {
        name: String,
        all_initials: bool,
        size: u32,
        format: InitialsFormat,
    },
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(super) enum InitialsFormat {
    Svg,
    Png,
    /// `?format=jpg` and `?format=jpeg` differ only in the content type Rocket.Chat sends.
    Jpeg {
        content_type: &'static str,
    },
}

impl InitialsFormat {
    fn of(format: Option<&str>) -> InitialsFormat {
        match format {
            Some("png") => InitialsFormat::Png,
            Some("jpg") => InitialsFormat::Jpeg {
                content_type: "image/jpg",
            },
            Some("jpeg") => InitialsFormat::Jpeg {
                content_type: "image/jpeg",
            },
            _ => InitialsFormat::Svg,
        }
    }
}

/// A representation cache bounded by bytes.
pub(super) type Representations = moka::future::Cache<RepresentationKey, Arc<Representation>>;

pub(super) fn representations(capacity_bytes: u64) -> Representations {
    moka::future::Cache::builder()
        .weigher(|_key, image: &Arc<Representation>| {
            u32::try_from(image.body.len() + image.etag.len() + 64).unwrap_or(u32::MAX)
        })
        .max_capacity(capacity_bytes)
        .build()
}

impl Avatars {
    /// `/avatar/<username>` (R6.4 steps 4–8).
    pub async fn for_username(&self, requested: &str, variant: Variant<'_>) -> Result<AvatarView> {
        // The provider takes precedence even over `@name` (R6.4 step 3).
        if let Some(template) = self.provider() {
            return Ok(self.ask_provider(&template, requested).await);
        }
        let use_name = self.settings.avatar_serving().use_name;
        if let Some(name) = requested.strip_prefix('@') {
            return self.initials(name, use_name, false, variant).await;
        }
        let found = self
            .directory
            .lookup(Key::Username(requested), variant.version, || {
                self.store.user_by_username(requested)
            })
            .await?;
        // A stored file is served only for the exact spelling of the username (R6.4 step 5).
        if let Some(found) = found.as_deref().filter(|f| f.username == requested)
            && let Some(view) = self.stored(found, variant).await?
        {
            return Ok(view);
        }
        match found {
            Some(found) if use_name && !found.name.is_empty() => {
                self.initials(&found.name, true, true, variant).await
            }
            _ => self.initials(requested, false, true, variant).await,
        }
    }

    /// `/avatar/uid/<userId>` (R6.5).
    pub async fn for_user_id(&self, id: &str, variant: Variant<'_>) -> Result<AvatarView> {
        let Some(found) = self
            .directory
            .lookup(Key::Id(id), variant.version, || self.store.user_by_id(id))
            .await?
        else {
            return Ok(AvatarView::NotFound);
        };
        if let Some(template) = self.provider() {
            return Ok(self.ask_provider(&template, &found.username).await);
        }
        if let Some(view) = self.stored(&found, variant).await? {
            return Ok(view);
        }
        if self.settings.avatar_serving().use_name && !found.name.is_empty() {
            self.initials(&found.name, true, true, variant).await
        } else {
            self.initials(&found.username, false, true, variant).await
        }
    }

    /// The user's stored avatar at the size asked for; `None` when they have none.
    async fn stored(&self, user: &Displayed, variant: Variant<'_>) -> Result<Option<AvatarView>> {
        let Some(seen) = &user.avatar else {
            return Ok(None);
        };
        let mut avatar = Cow::Borrowed(seen);
        // A replacement can commit and delete the bytes between this request's read of the record
        // and its read of the blob: the record it saw is stale, so read the current one. Writers
        // may win that race again; a record that still names missing bytes after it stopped
        // changing breaks the store's invariant.
        let mut attempts = 0;
        let master = loop {
            if attempts == 0
                && let Some(master) = user.stored_file.get()
            {
                break master;
            }
            if let Some(master) = self.master(&avatar).await? {
                if attempts == 0 {
                    user.stored_file.remember(&master);
                }
                break master;
            }
            attempts += 1;
            let current = self
                .store
                .user_by_id(&user.user_id)
                .await?
                .and_then(|found| found.avatar);
            match current {
                Some(current) if current.blob_key != avatar.blob_key && attempts < 8 => {
                    avatar = Cow::Owned(current);
                }
                _ => return Ok(self.missing_blob(&avatar)),
            }
        };
        let size = rendition_size(variant.size, &master);
        let (encoding, negotiated) = match variant.format {
            Some(name) => (Encoding::from_name(name), false),
            None => (negotiate(variant.accept, &master), true),
        };
        // Asking for the stored format by name is asking for the stored file.
        let encoding =
            encoding.filter(|e| Some(e.format()) != Format::from_mime(master.content_type));
        let image = if size.is_none() && encoding.is_none() {
            master
        } else {
            self.rendition(&avatar, master, size, encoding).await?
        };
        Ok(Some(AvatarView::Stored { image, negotiated }))
    }

    /// The current record names bytes that are gone: that breaks the store's invariant. Show
    /// initials rather than an error, and say so loudly.
    fn missing_blob(&self, avatar: &AvatarRecord) -> Option<AvatarView> {
        tracing::error!(key = %avatar.blob_key, "avatar record names a missing blob");
        None
    }

    /// The stored file itself, from memory when possible; `None` if the blob is gone.
    async fn master(&self, avatar: &AvatarRecord) -> Result<Option<Arc<Representation>>> {
        let key = RepresentationKey::Stored {
            blob_key: avatar.blob_key.clone(),
            size: None,
            encoding: None,
        };
        if let Some(image) = self.representations.get(&key).await {
            return Ok(Some(image));
        }
        let Some(body) = self.blobs.get(&avatar.blob_key).await? else {
            return Ok(None);
        };
        let image = Arc::new(Representation {
            // A static string, so no response allocates its content type.
            content_type: avatard_imaging::Format::from_mime(&avatar.content_type)
                .map_or("application/octet-stream", avatard_imaging::Format::mime),
            etag: format!("\"{}\"", avatar.etag),
            last_modified: httpdate::fmt_http_date(avatar.uploaded_at.into()),
            version: Some(avatar.etag.clone()),
            presentation: Presentation::default(),
            shorter_side: avatard_imaging::dimensions(&body).map(|(w, h)| w.min(h)),
            animated: avatard_imaging::frames(&body) > 1,
            body,
        });
        self.representations.insert(key, image.clone()).await;
        Ok(Some(image))
    }

    /// The stored avatar at another size or in another format, made once: concurrent requests
    /// wait for the first, and the result is kept in the blob store beside the stored file, so
    /// other replicas and restarts do not encode it again.
    async fn rendition(
        &self,
        avatar: &AvatarRecord,
        master: Arc<Representation>,
        size: Option<u32>,
        encoding: Option<Encoding>,
    ) -> Result<Arc<Representation>> {
        let key = RepresentationKey::Stored {
            blob_key: avatar.blob_key.clone(),
            size,
            encoding,
        };
        // The common case, before anything below is allocated for the uncommon one.
        if let Some(image) = self.representations.get(&key).await {
            return Ok(image);
        }
        let suffix = rendition_suffix(size, encoding);
        let blob_key = format!("{}.{suffix}", avatar.blob_key);
        let etag = format!("\"{}-{suffix}\"", avatar.etag);
        let avatar_key = avatar.blob_key.clone();
        self.representations
            .try_get_with(key, async move {
                let body = match self.blobs.get(&blob_key).await? {
                    Some(body) => body,
                    None => {
                        let body = self.render(&master, size, encoding).await?;
                        self.keep_rendition(&avatar_key, &blob_key, body.clone())
                            .await;
                        body
                    }
                };
                let format = Format::from_mime(master.content_type);
                Ok(Arc::new(Representation {
                    content_type: encoding
                        .map(Encoding::format)
                        .or(format)
                        .map_or(master.content_type, Format::mime),
                    etag,
                    last_modified: master.last_modified.clone(),
                    version: master.version.clone(),
                    presentation: Presentation::default(),
                    shorter_side: avatard_imaging::dimensions(&body).map(|(w, h)| w.min(h)),
                    animated: avatard_imaging::frames(&body) > 1,
                    body,
                }))
            })
            .await
            .map_err(|err: Arc<Error>| (*err).clone())
    }

    /// Stores a rendition beside its avatar. Only a cache: the next request makes it again if the
    /// write fails. When the avatar was replaced meanwhile, its discarding may have looked for
    /// renditions before this one existed, so it goes again at once: a rendition never outlives
    /// its avatar's bytes.
    async fn keep_rendition(&self, avatar_key: &str, key: &str, body: Bytes) {
        if let Err(err) = self.blobs.put(key, body).await {
            tracing::warn!(%key, %err, "could not keep a rendition");
            return;
        }
        if let Ok(None) = self.blobs.get(avatar_key).await {
            super::discard_blob(self.blobs.as_ref(), avatar_key).await;
        }
    }

    async fn render(
        &self,
        master: &Representation,
        size: Option<u32>,
        encoding: Option<Encoding>,
    ) -> Result<Bytes> {
        let options = AvatarOptions {
            size: size.or(master.shorter_side).unwrap_or(200),
            resize: size.is_some(),
            // The stored file is already upright and in sRGB.
            auto_orient: false,
            animated: true,
            output: encoding,
            limits: Limits::default(),
        };
        let body = master.body.clone();
        let rendition = self
            .on_image_pool(move || avatard_imaging::process_avatar(&body, &options))
            .await?
            .map_err(Error::internal)?;
        Ok(Bytes::from(rendition.bytes))
    }

    /// The initials image (R6.8) at `?size=`, as SVG or, for `?format=png|jpg|jpeg`, rasterised.
    async fn initials(
        &self,
        name: &str,
        all_initials: bool,
        revalidate: bool,
        variant: Variant<'_>,
    ) -> Result<AvatarView> {
        let size = initials::view_size(variant.size);
        let format = InitialsFormat::of(variant.format);
        let key = RepresentationKey::Initials {
            name: name.to_owned(),
            all_initials,
            size,
            format,
        };
        let raster = || initials::raster_svg(name, size, all_initials);
        let image = self
            .representations
            .try_get_with(key, async move {
                let (content_type, body) = match format {
                    InitialsFormat::Svg => (
                        "image/svg+xml",
                        Bytes::from(initials::svg(name, size, all_initials)),
                    ),
                    InitialsFormat::Png => (
                        "image/png",
                        self.rasterize(raster(), initials::RasterFormat::Png)
                            .await?,
                    ),
                    InitialsFormat::Jpeg { content_type } => (
                        content_type,
                        self.rasterize(raster(), initials::RasterFormat::Jpeg)
                            .await?,
                    ),
                };
                Ok(Arc::new(Representation {
                    etag: format!("\"i-{}\"", &ids::sha256_hex(&body)[..32]),
                    body,
                    content_type,
                    last_modified: INITIALS_LAST_MODIFIED.to_owned(),
                    version: None,
                    presentation: Presentation::default(),
                    shorter_side: None,
                    animated: false,
                }))
            })
            .await
            .map_err(|err: Arc<Error>| (*err).clone())?;
        Ok(AvatarView::Initials { image, revalidate })
    }

    async fn rasterize(&self, svg: String, format: initials::RasterFormat) -> Result<Bytes> {
        let raster = self
            .on_image_pool(move || initials::rasterize(&svg, format))
            .await?
            .map_err(Error::internal)?;
        Ok(Bytes::from(raster))
    }
}

/// `?size=` for a stored avatar: parsed like the initials' size (R6.8), and only when it is below
/// both sides of the stored file; a rendition is never enlarged, so larger sizes get the file.
fn rendition_size(size: Option<&str>, master: &Representation) -> Option<u32> {
    size?;
    let size = initials::view_size(size);
    (size < master.shorter_side?).then_some(size)
}

/// Names a rendition in its blob key and entity tag: `64` for a size, `webp` for a format,
/// `64.webp` for both.
fn rendition_suffix(size: Option<u32>, encoding: Option<Encoding>) -> String {
    let format = encoding.map(|encoding| match encoding {
        Encoding::Png => "png",
        Encoding::Jpeg => "jpg",
        Encoding::Gif => "gif",
        Encoding::WebP { .. } => "webp",
        Encoding::Avif => "avif",
    });
    match (size, format) {
        (Some(size), Some(format)) => format!("{size}.{format}"),
        (Some(size), None) => size.to_string(),
        (None, Some(format)) => format.to_owned(),
        (None, None) => String::new(),
    }
}

/// The format a client that sent `accept` is best served: AVIF for stills, then WebP, when it
/// accepts them (a `q=0` refuses); `None` keeps the stored format.
fn negotiate(accept: Option<&str>, master: &Representation) -> Option<Encoding> {
    let accept = accept?;
    let accepts = |mime: &str| {
        accept.split(',').any(|range| {
            let mut parts = range.split(';').map(str::trim);
            parts.next().is_some_and(|m| m.eq_ignore_ascii_case(mime))
                && !parts.any(|p| {
                    p.strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                })
        })
    };
    let stored = Format::from_mime(master.content_type)?;
    if accepts("image/avif") && !master.animated {
        Some(Encoding::Avif)
    } else if accepts("image/webp") {
        // Graphics stay exact; photos take lossy WebP, as sharp writes it.
        let lossless = matches!(stored, Format::Png | Format::Gif);
        Some(Encoding::WebP { lossless })
    } else {
        None
    }
}
