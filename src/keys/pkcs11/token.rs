//! One token as cfsign talks to it: the module loaded and initialised once
//! per process, the slot the URI names, sessions logged in as the user, and
//! the key object with its public half.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::RawAuthPin;
use zeroize::Zeroizing;

use super::der;
use crate::keys::pkcs11_uri::Pkcs11Uri;

/// A loaded and initialised module. `C_Initialize` runs once per process
/// (a second fails), except in [`Module::rescan`]: a token that went away
/// is not seen again by some modules (SoftHSM) until they are initialised
/// anew, which closes every session of every key on the module; `epoch`
/// tells their owners, and `gate` keeps calls out while it happens.
pub struct Module {
    pub context: Pkcs11,
    gate: RwLock<()>,
    epoch: AtomicU64,
    rescanned: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("epoch", &self.epoch())
            .finish_non_exhaustive()
    }
}

/// Rescans of one module are at least this far apart.
const RESCAN_EVERY: Duration = Duration::from_secs(2);

impl Module {
    /// Held (shared) around every sequence of calls: a rescan waits for them.
    pub fn calls(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bumped by each rescan: sessions opened before it are gone.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// `C_Finalize` + `C_Initialize`, so the module looks for its tokens
    /// anew; at most once per [`RESCAN_EVERY`]. Whether it ran.
    pub fn rescan(&self) -> bool {
        let _alone = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        let mut last = self.rescanned.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < RESCAN_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let _ = self.context.clone().finalize();
        match self
            .context
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        {
            Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => true,
            Err(e) => {
                tracing::warn!("PKCS#11 module re-initialisation failed: {}", describe(&e));
                false
            }
        }
    }
}

/// The modules loaded so far, by canonical path: a reload opens its keys
/// again through the same module.
fn modules() -> &'static Mutex<HashMap<PathBuf, Arc<Module>>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Arc<Module>>>> = OnceLock::new();
    MODULES.get_or_init(Default::default)
}

/// The initialised module at `path`, loaded on first use.
pub fn module(path: &Path) -> Result<Arc<Module>, String> {
    let canonical = path
        .canonicalize()
        .map_err(|e| format!("PKCS#11 module {}: {e}", path.display()))?;
    let mut loaded = modules().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(module) = loaded.get(&canonical) {
        return Ok(Arc::clone(module));
    }
    let context =
        Pkcs11::new(&canonical).map_err(|e| format!("cannot load the PKCS#11 module {}: {e}", path.display()))?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Initialised by someone else in this process (another library): usable.
        Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(format!("PKCS#11 module {}: {}", path.display(), describe(&e))),
    }
    let module = Arc::new(Module {
        context,
        gate: RwLock::new(()),
        epoch: AtomicU64::new(0),
        rescanned: Mutex::new(None),
    });
    loaded.insert(canonical, Arc::clone(&module));
    Ok(module)
}

/// `C_Sign: CKR_DEVICE_REMOVED`: the function and the return value's
/// PKCS#11 name (cryptoki's own text is a paragraph of the spec).
pub fn describe(error: &Error) -> String {
    match error {
        Error::Pkcs11(rv, function) => format!("C_{function:?}: {}", ckr_name(rv)),
        other => other.to_string(),
    }
}

fn ckr_name(rv: &RvError) -> String {
    let debug = format!("{rv:?}");
    let mut name = String::from("CKR_");
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_uppercase());
        }
    }
    name
}

/// A token: the module, the URI's criteria and the user PIN.
pub struct Token {
    pub module: Arc<Module>,
    pub uri: Pkcs11Uri,
    pin: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token").field("uri", &self.uri).finish_non_exhaustive()
    }
}

/// What the key on the token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// RSA-2048: `CKM_SHA1_RSA_PKCS`, `CKM_SHA256_RSA_PKCS`.
    Rsa,
    /// ECDSA P-256: `CKM_ECDSA` over a digest made here.
    Ecdsa,
}

/// The private key found on the token.
#[derive(Debug, Clone, Copy)]
pub struct Found {
    pub handle: ObjectHandle,
    pub kind: Kind,
}

impl Token {
    pub fn new(module: Arc<Module>, uri: Pkcs11Uri, pin: Zeroizing<Vec<u8>>) -> Self {
        Self { module, uri, pin }
    }

    fn context(&self) -> &Pkcs11 {
        &self.module.context
    }

    /// The one slot whose token matches the URI.
    pub fn slot(&self) -> Result<Slot, Failure> {
        let u = &self.uri;
        let mut matching = Vec::new();
        let mut seen = Vec::new();
        for slot in self.context().get_slots_with_token()? {
            // A slot whose token just went away fails these (SoftHSM: a
            // deleted token's slot gives CKR_GENERAL_ERROR): not a match.
            let (Ok(info), Ok(slot_info)) = (self.context().get_token_info(slot), self.context().get_slot_info(slot))
            else {
                continue;
            };
            if !info.token_initialized() {
                continue;
            }
            seen.push(info.label().trim_end().to_owned());
            let same = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have.trim_end());
            if same(&u.token, info.label())
                && same(&u.manufacturer, info.manufacturer_id())
                && same(&u.model, info.model())
                && same(&u.serial, info.serial_number())
                && same(&u.slot_description, slot_info.slot_description())
                && same(&u.slot_manufacturer, slot_info.manufacturer_id())
                && u.slot_id.is_none_or(|id| id == slot.id())
            {
                matching.push(slot);
            }
        }
        match matching.as_slice() {
            [slot] => Ok(*slot),
            [] => Err(Failure::NoToken(format!(
                "no token matches the URI (tokens present: {})",
                if seen.is_empty() {
                    "none".to_owned()
                } else {
                    format!("{seen:?}")
                }
            ))),
            more => Err(Failure::Unusable(format!(
                "{} tokens match the URI; add serial= to pick one",
                more.len()
            ))),
        }
    }

    /// A new session on `slot`, logged in as the user (a token shares one
    /// login among an application's sessions: "already logged in" is fine).
    pub fn session(&self, slot: Slot, read_write: bool) -> Result<Session, Error> {
        let session = if read_write {
            self.context().open_rw_session(slot)?
        } else {
            self.context().open_ro_session(slot)?
        };
        let pin = RawAuthPin::new(Box::new(self.pin.to_vec()));
        match session.login_with_raw(UserType::User, &pin) {
            Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(e) => Err(e),
        }
    }

    /// The template naming the URI's key objects of `class`.
    fn template(&self, class: ObjectClass) -> Vec<Attribute> {
        let mut template = vec![Attribute::Class(class)];
        if let Some(label) = &self.uri.object {
            template.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        if let Some(id) = &self.uri.id {
            template.push(Attribute::Id(id.clone()));
        }
        template
    }

    /// The one private key the URI names, with its public half as SPKI PEM.
    pub fn find_key(&self, session: &Session) -> Result<(Found, String), Failure> {
        let handles = session.find_objects(&self.template(ObjectClass::PRIVATE_KEY))?;
        let handle = match handles.as_slice() {
            [one] => *one,
            [] => {
                return Err(Failure::Missing(format!(
                    "no private key {} on the token",
                    self.names()
                )));
            }
            more => {
                return Err(Failure::Unusable(format!(
                    "{} private keys match {}; add id= to the URI to pick one",
                    more.len(),
                    self.names()
                )));
            }
        };
        let attrs = session.get_attributes(
            handle,
            &[
                AttributeType::KeyType,
                AttributeType::Sign,
                AttributeType::Id,
                AttributeType::Label,
                AttributeType::Modulus,
                AttributeType::PublicExponent,
                AttributeType::EcParams,
            ],
        )?;
        let (mut key_type, mut sign, mut id, mut label) = (None, None, Vec::new(), Vec::new());
        let (mut modulus, mut exponent, mut params) = (None, None, None);
        for attr in attrs {
            match attr {
                Attribute::KeyType(t) => key_type = Some(t),
                Attribute::Sign(s) => sign = Some(s),
                Attribute::Id(v) => id = v,
                Attribute::Label(v) => label = v,
                Attribute::Modulus(v) => modulus = Some(v),
                Attribute::PublicExponent(v) => exponent = Some(v),
                Attribute::EcParams(v) => params = Some(v),
                _ => {}
            }
        }
        if sign == Some(false) {
            return Err(Failure::Unusable(format!(
                "the private key {} has CKA_SIGN false: it may not sign",
                self.names()
            )));
        }
        let unusable = Failure::Unusable;
        let (kind, pem) = match key_type {
            Some(KeyType::RSA) => {
                let (Some(modulus), Some(exponent)) = (modulus, exponent) else {
                    return Err(unusable(
                        "the RSA key does not show CKA_MODULUS and CKA_PUBLIC_EXPONENT".into(),
                    ));
                };
                let bits = modulus.iter().skip_while(|b| **b == 0).count() * 8;
                if bits != 2048 {
                    return Err(unusable(format!(
                        "an RSA-{bits} key: CloudFront key groups take RSA-2048 (or ECDSA P-256)"
                    )));
                }
                (Kind::Rsa, der::rsa_spki_pem(&modulus, &exponent).map_err(unusable)?)
            }
            Some(KeyType::EC) => {
                der::check_curve(&params.unwrap_or_default()).map_err(unusable)?;
                (Kind::Ecdsa, self.ec_public(session, &id, &label)?)
            }
            Some(other) => {
                return Err(unusable(format!(
                    "a {other} key: CloudFront accepts RSA-2048 or ECDSA P-256"
                )));
            }
            None => return Err(unusable("the private key has no CKA_KEY_TYPE".into())),
        };
        Ok((Found { handle, kind }, pem))
    }

    /// An EC private key does not carry its point: it is read from the
    /// public key object with the same `CKA_ID` (else the same label).
    fn ec_public(&self, session: &Session, id: &[u8], label: &[u8]) -> Result<String, Failure> {
        let by = if id.is_empty() {
            Attribute::Label(label.to_vec())
        } else {
            Attribute::Id(id.to_vec())
        };
        let handles = session.find_objects(&[Attribute::Class(ObjectClass::PUBLIC_KEY), by])?;
        let [handle] = handles.as_slice() else {
            return Err(Failure::Unusable(format!(
                "{} public key objects share the EC private key's {}; the token must hold exactly one \
                 (import it with `pkcs11-tool --write-object pub.der --type pubkey`)",
                handles.len(),
                if id.is_empty() { "label" } else { "CKA_ID" }
            )));
        };
        let attrs = session.get_attributes(*handle, &[AttributeType::EcPoint, AttributeType::EcParams])?;
        let mut point = None;
        for attr in attrs {
            match attr {
                Attribute::EcPoint(p) => point = Some(p),
                Attribute::EcParams(p) => der::check_curve(&p).map_err(Failure::Unusable)?,
                _ => {}
            }
        }
        let point = point.ok_or_else(|| Failure::Unusable("the EC public key object has no CKA_EC_POINT".into()))?;
        der::ec_spki_pem(&point).map_err(Failure::Unusable)
    }

    /// `object="…", id=…` for messages.
    pub fn names(&self) -> String {
        let mut parts = Vec::new();
        if let Some(label) = &self.uri.object {
            parts.push(format!("object={label:?}"));
        }
        if let Some(id) = &self.uri.id {
            parts.push(format!("id={}", hex::encode(id)));
        }
        parts.join(", ")
    }
}

/// Why the token did not give what was asked.
#[derive(Debug)]
pub enum Failure {
    /// A PKCS#11 call failed.
    Call(Error),
    /// No token matches the URI (it may come back).
    NoToken(String),
    /// The key is not on the token (it may come back).
    Missing(String),
    /// The key is there but not one cfsign can use.
    Unusable(String),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Call(error)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Call(e) => f.write_str(&describe(e)),
            Failure::NoToken(m) | Failure::Missing(m) | Failure::Unusable(m) => f.write_str(m),
        }
    }
}
