//! Thabian's HTTP API. The only crate that knows HTTP and JSON: handlers parse and check the
//! request, call one use case of `thabian-register`, and shape the answer.
mod error;
mod metrics;
pub mod wire;

pub use error::{ApiError, ApiResult};

use axum::extract::rejection::JsonRejection;
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State,
};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use thabian_model::date::PartialDate;
use thabian_model::event::{EventPayload, LegalBasis};
use thabian_model::pin::Pin;
use thabian_register::log::LogService;
use thabian_register::{Change, Outcome, Register, RequestContext, Submission, View};
use utoipa::OpenApi;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub register: Arc<Register>,
    pub log: Arc<LogService>,
    metrics: Arc<metrics::Metrics>,
}

impl AppState {
    pub fn new(register: Arc<Register>, log: Arc<LogService>) -> AppState {
        AppState {
            register,
            log,
            metrics: Arc::new(metrics::Metrics::new()),
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::metrics_handler))
        .route("/openapi.json", get(openapi_json))
        .route("/v1/births", post(register_birth))
        .route("/v1/imports", post(import_record))
        .route("/v1/households", post(create_household))
        .route("/v1/households/{id}", get(get_household))
        .route("/v1/persons/search", get(search_persons))
        .route("/v1/review-cases", get(list_review_cases))
        .route("/v1/review-cases/{id}", get(get_review_case))
        .route("/v1/review-cases/{id}/decision", post(decide_review_case))
        .route("/v1/persons/{pin}", get(get_person))
        .route("/v1/persons/{pin}/history", get(get_history))
        .route("/v1/persons/{pin}/relatives", get(get_relatives))
        .route("/v1/persons/{pin}/access-log", get(get_person_access_log))
        .route("/v1/persons/{pin}/events", post(submit_event))
        .route("/v1/events", get(get_feed))
        .route("/v1/log/key", get(get_log_key))
        .route("/v1/log/checkpoint", get(get_latest_checkpoint))
        .route("/v1/log/checkpoints/{size}", get(get_checkpoint))
        .route("/v1/log/proofs/inclusion", get(get_inclusion_proof))
        .route("/v1/log/proofs/consistency", get(get_consistency_proof))
        .route("/v1/officials", get(list_officials).post(create_official))
        .route("/v1/officials/{id}/disable", post(disable_official))
        .route(
            "/v1/officials/{id}/tokens",
            get(list_tokens).post(issue_token),
        )
        .route("/v1/tokens/{id}/revoke", post(revoke_token))
        .route(
            "/v1/persons/{pin}/cards",
            get(list_cards).post(apply_for_card),
        )
        .route("/v1/persons/{pin}/cards/{card}/events", post(change_card))
        .route(
            "/v1/persons/{pin}/biometrics/{id}",
            get(get_biometric_sample),
        )
        .route("/v1/cards/{number}/status", get(get_card_status))
        .route("/v1/cards/verify", post(verify_card))
        .route("/v1/pki", get(list_pki_documents))
        .route("/v1/pki/{name}", get(get_pki_document))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Thabian population register API", description = "National population register: persons, life events, households, the change feed and the tamper-evident log. Errors are application/problem+json with a stable `code`."),
    paths(
        healthz, register_birth, import_record, create_household, get_household, get_person, get_history,
        get_relatives, get_person_access_log, submit_event, get_feed, get_log_key, get_latest_checkpoint,
        get_checkpoint, get_inclusion_proof, get_consistency_proof, list_officials, create_official,
        disable_official, list_tokens, issue_token, revoke_token, search_persons, list_review_cases,
        get_review_case, decide_review_case, list_cards, apply_for_card, change_card,
        get_biometric_sample, get_card_status, list_pki_documents, get_pki_document, verify_card
    ),
    modifiers(&BearerAuth, &ProblemResponses),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

/// Every operation can answer with these problems; documenting them once keeps the handlers'
/// annotations about what is specific to each.
struct ProblemResponses;

impl utoipa::Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .schemas
            .entry("Problem".to_owned())
            .or_insert_with(<wire::Problem as utoipa::PartialSchema>::schema);
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                            "Problem",
                        ))))
                        .build(),
                )
                .build()
        };
        let common = [
            ("400", "Malformed request (problem+json, code invalid-request, invalid-pin, invalid-date, ...)"),
            ("401", "Missing, unknown, expired or revoked token"),
            ("403", "Not allowed for this role or outside the official's jurisdiction"),
            ("413", "Request body larger than 1 MiB"),
            ("415", "Request body is not application/json"),
            ("422", "The body does not fit the schema, or the change breaks a rule of the register"),
            ("500", "Internal error (details in the server log)"),
            ("503", "Temporarily unavailable (database, contention); retry"),
        ];
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                for (code, description) in common {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| RefOr::T(problem(description)));
                }
            }
        }
    }
}

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document, as served at `/openapi.json` and checked into the repository.
pub fn openapi_document() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

// ---------------------------------------------------------------------------- extractors

/// JSON body whose rejections are problem+json.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    let status = r.status();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        _ => "invalid-request",
    };
    ApiError::new(status, code, r.body_text())
}

pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(r) => Err(ApiError::bad_request(r.body_text())),
        }
    }
}

/// Path parameters whose rejections are problem+json.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(r) => Err(ApiError::bad_request(r.body_text())),
        }
    }
}

/// The `{pin}` path parameter, checked against the profile's PIN scheme before anything else
/// (authentication included) touches the database.
pub struct PinParam(pub Pin);

impl FromRequestParts<AppState> for PinParam {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ApiPath(raw) = ApiPath::<String>::from_request_parts(parts, state).await?;
        Ok(PinParam(parse_pin(state, &raw)?))
    }
}

/// The authenticated caller, with the purpose and client address every access record needs.
pub struct Caller(pub RequestContext);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "send Authorization: Bearer <token>",
                )
            })?;
        let principal = state.register.authenticate(token.trim()).await?;
        let purpose = parts
            .headers
            .get("purpose")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect::<String>());
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(Caller(RequestContext {
            principal,
            purpose,
            client,
        }))
    }
}

// ---------------------------------------------------------------------------- conversions

fn via_json<A: Serialize, B: DeserializeOwned>(a: &A) -> ApiResult<B> {
    let value = serde_json::to_value(a).map_err(|e| ApiError::bad_request(e.to_string()))?;
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn parse_pin(state: &AppState, s: &str) -> ApiResult<Pin> {
    Pin::parse(&state.register.profile().pin, s).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-pin",
            format!("PIN {s:?}: {e}"),
        )
    })
}

fn parse_date(field: &str, s: &str) -> ApiResult<PartialDate> {
    PartialDate::parse(s).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-date",
            format!("{field} {s:?}: {e}"),
        )
    })
}

fn normalize_name(n: &wire::PersonName) -> ApiResult<wire::PersonName> {
    let norm = |s: &str| {
        thabian_model::name::normalize_name(s).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-name",
                format!("{s:?}: {e}"),
            )
        })
    };
    Ok(wire::PersonName {
        family: n.family.as_deref().map(norm).transpose()?,
        middle: n.middle.as_deref().map(norm).transpose()?,
        given: norm(&n.given)?,
    })
}

fn names(n: &wire::Names) -> ApiResult<thabian_model::person::Names> {
    let n = wire::Names {
        national: normalize_name(&n.national)?,
        latin: n.latin.as_ref().map(normalize_name).transpose()?,
    };
    via_json(&n)
}

fn parent(state: &AppState, p: &wire::ParentRef) -> ApiResult<thabian_model::person::ParentRef> {
    if let wire::ParentRef::Registered { pin } = p {
        parse_pin(state, pin)?;
    }
    if let wire::ParentRef::Described {
        date_of_birth: Some(d),
        ..
    } = p
    {
        parse_date("parent's date_of_birth", d)?;
    }
    via_json(p)
}

fn residence(r: &wire::Residence) -> ApiResult<thabian_model::person::Residence> {
    parse_date("since", &r.since)?;
    via_json(r)
}

fn legal_basis(l: &wire::LegalBasis) -> LegalBasis {
    LegalBasis {
        act: l.act.clone(),
        document_ref: l.document_ref.clone(),
    }
}

fn particulars(
    state: &AppState,
    p: &wire::Particulars,
) -> ApiResult<thabian_model::event::PersonParticulars> {
    let nationalities = if p.nationalities.is_empty() {
        vec![state.register.profile().nationality_code.clone()]
    } else {
        p.nationalities.clone()
    };
    Ok(thabian_model::event::PersonParticulars {
        names: names(&p.names)?,
        sex: via_json(&p.sex)?,
        date_of_birth: parse_date("date_of_birth", &p.date_of_birth)?,
        place_of_birth: p.place_of_birth.clone(),
        nationalities,
        ethnicity: p.ethnicity.clone(),
        religion: p.religion.clone(),
        father: parent(state, &p.father)?,
        mother: parent(state, &p.mother)?,
    })
}

fn person_out(p: &thabian_model::person::Person) -> ApiResult<wire::Person> {
    via_json(p).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            e.detail,
        )
    })
}

fn outcome_out(o: &Outcome) -> wire::ChangeResult {
    wire::ChangeResult {
        events: o
            .events
            .iter()
            .map(|e| wire::CommittedEvent {
                seq: e.seq,
                id: e.id.clone(),
                kind: e.kind.clone(),
                recorded_at: e.recorded_at.clone(),
            })
            .collect(),
        pin: o.pin.as_ref().map(|p| p.to_string()),
        version: o.version,
        household: o.household.clone(),
        replayed: o.replayed,
        review_case: o.review_case.clone(),
        possible_duplicates: o
            .possible_duplicates
            .iter()
            .map(|c| wire::DuplicateCandidate {
                pin: c.pin.to_string(),
                probability: c.probability,
                weight: c.weight,
                verdict: verdict_name(c.verdict).to_owned(),
            })
            .collect(),
    }
}

fn verdict_name(v: thabian_model::linkage::Verdict) -> &'static str {
    match v {
        thabian_model::linkage::Verdict::Likely => "likely",
        thabian_model::linkage::Verdict::Possible => "possible",
        thabian_model::linkage::Verdict::Unlikely => "unlikely",
    }
}

fn event_out(
    stored: &thabian_store::StoredEvent,
    event: &thabian_model::event::Event,
) -> wire::EventRecord {
    wire::EventRecord {
        seq: stored.seq,
        id: stored.id.clone(),
        kind: stored.kind.clone(),
        subjects: stored.subjects.clone(),
        effective: stored.effective.clone(),
        recorded_at: stored.recorded_at.clone(),
        office: stored.office.clone(),
        actor: stored.actor.clone(),
        canonical: stored.body.clone(),
        leaf_hash: hex::encode(stored.leaf_hash),
        event: serde_json::to_value(event).unwrap_or(serde_json::Value::Null),
    }
}

fn b64(h: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(h)
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let s = v
                .to_str()
                .map_err(|_| ApiError::bad_request("Idempotency-Key must be visible ASCII"))?;
            Ok(Some(s.trim_matches('"').to_owned()))
        }
    }
}

/// `If-Match: "<version>"` (or `W/"<version>"`).
fn if_match(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .map_err(|_| ApiError::bad_request("malformed If-Match"))?
        .trim();
    let s = s.strip_prefix("W/").unwrap_or(s);
    s.trim_matches('"').parse().map(Some).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "If-Match must be the person's ETag, e.g. \"3\"",
        )
    })
}

fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

fn created(result: &Outcome, location: Option<String>) -> Response {
    let status = if result.review_case.is_some() {
        StatusCode::ACCEPTED
    } else if result.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut response = (status, axum::Json(outcome_out(result))).into_response();
    if let Some(loc) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, loc);
    }
    if let Some(v) = result.version {
        response.headers_mut().insert(header::ETAG, etag(v));
    }
    response
}

// ---------------------------------------------------------------------------- handlers

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such endpoint")
}

#[utoipa::path(get, path = "/healthz", security(()), responses((status = 200, description = "The node and its database answer")))]
async fn healthz(State(state): State<AppState>) -> ApiResult<&'static str> {
    state
        .register
        .store()
        .log_size()
        .await
        .map_err(|e| ApiError::from(thabian_register::RegisterError::Store(e)))?;
    Ok("ok")
}

async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi_document(),
    )
        .into_response()
}

#[utoipa::path(post, path = "/v1/births", request_body = wire::BirthRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A repeated submission with the same key returns the first result")),
    responses((status = 201, body = wire::ChangeResult, description = "Registered (possibly with a warning about possible duplicates)"),
        (status = 202, body = wire::ChangeResult, description = "Held for review as a likely duplicate: see `review_case`"),
        (status = 422, body = wire::Problem, content_type = "application/problem+json")))]
async fn register_birth(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<wire::BirthRequest>,
) -> ApiResult<Response> {
    let particulars = particulars(&state, &req.particulars)?;
    let submission = Submission {
        effective: particulars.date_of_birth,
        change: Change::Birth {
            particulars,
            residence: req.residence.as_ref().map(residence).transpose()?,
            household: req.household.as_ref().map(via_json).transpose()?,
        },
        legal_basis: legal_basis(&req.legal_basis),
        office: req.office,
        idempotency_key: idempotency_key(&headers)?,
        target: None,
        if_match: None,
    };
    let result = state.register.submit(&ctx, submission).await?;
    Ok(created(&result, change_location(&result)))
}

#[utoipa::path(post, path = "/v1/imports", request_body = wire::ImportRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Defaults to the source id")),
    responses((status = 201, body = wire::ChangeResult, description = "Imported (possibly with a warning about possible duplicates)"),
        (status = 202, body = wire::ChangeResult, description = "Held for review as a likely duplicate of a registered person: see `review_case`"),
        (status = 422, body = wire::Problem, content_type = "application/problem+json")))]
async fn import_record(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<wire::ImportRequest>,
) -> ApiResult<Response> {
    let particulars = particulars(&state, &req.particulars)?;
    let pin = req
        .pin
        .as_deref()
        .map(|p| parse_pin(&state, p))
        .transpose()?;
    let record = thabian_model::event::ImportedRecord {
        // Replaced by the kept or issued PIN.
        pin: Pin::from_trusted(String::new()),
        particulars,
        spouse: req
            .spouse
            .as_deref()
            .map(|p| parse_pin(&state, p))
            .transpose()?,
        permanent_residence: req
            .permanent_residence
            .as_ref()
            .map(residence)
            .transpose()?,
        temporary_residence: req
            .temporary_residence
            .as_ref()
            .map(residence)
            .transpose()?,
        household: req.household.as_ref().map(via_json).transpose()?,
        status: via_json(&req.status)?,
        date_of_death: req
            .date_of_death
            .as_deref()
            .map(|d| parse_date("date_of_death", d))
            .transpose()?,
        source_id: req.source_id.clone(),
    };
    let key = idempotency_key(&headers)?.unwrap_or_else(|| format!("import:{}", req.source_id));
    let submission = Submission {
        effective: parse_date("effective", &req.effective)?,
        change: Change::Import {
            pin,
            record: Box::new(record),
        },
        legal_basis: legal_basis(&req.legal_basis),
        office: req.office,
        idempotency_key: Some(key),
        target: None,
        if_match: None,
    };
    let result = state.register.submit(&ctx, submission).await?;
    Ok(created(&result, change_location(&result)))
}

/// Where a new record is: the person, or the review case holding it.
fn change_location(result: &Outcome) -> Option<String> {
    match (&result.review_case, &result.pin) {
        (Some(case), _) => Some(format!("/v1/review-cases/{case}")),
        (None, Some(p)) => Some(format!("/v1/persons/{p}")),
        _ => None,
    }
}

#[utoipa::path(post, path = "/v1/households", request_body = wire::HouseholdRequest,
    responses((status = 201, body = wire::ChangeResult), (status = 422, body = wire::Problem, content_type = "application/problem+json")))]
async fn create_household(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<wire::HouseholdRequest>,
) -> ApiResult<Response> {
    let head = parse_pin(&state, &req.head)?;
    let submission = Submission {
        effective: parse_date("effective", &req.effective)?,
        change: Change::CreateHousehold {
            head: head.clone(),
            area: req.area,
            address_lines: req.address_lines,
        },
        legal_basis: legal_basis(&req.legal_basis),
        office: req.office,
        idempotency_key: idempotency_key(&headers)?,
        target: Some(head),
        if_match: if_match(&headers)?,
    };
    let result = state.register.submit(&ctx, submission).await?;
    let location = result
        .household
        .as_ref()
        .map(|h| format!("/v1/households/{h}"));
    Ok(created(&result, location))
}

#[utoipa::path(get, path = "/v1/households/{id}", params(("id" = String, Path)),
    responses((status = 200, body = wire::Household), (status = 404, body = wire::Problem, content_type = "application/problem+json")))]
async fn get_household(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::Json<wire::Household>> {
    let view = state.register.household(&ctx, &id).await?;
    let h = view.household;
    Ok(axum::Json(wire::Household {
        id: h.id,
        head: h.head.map(|p| p.to_string()),
        area: h.area,
        address_lines: h.address_lines,
        members: h
            .members
            .iter()
            .map(|(pin, rel)| {
                Ok(wire::HouseholdMember {
                    pin: pin.to_string(),
                    relationship: via_json(rel)?,
                })
            })
            .collect::<ApiResult<_>>()?,
        version: h.version,
        persons: view
            .members
            .iter()
            .map(person_out)
            .collect::<ApiResult<_>>()?,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PersonQuery {
    /// Valid time: the record as it was on this date (`YYYY-MM-DD`).
    as_of: Option<String>,
    /// Transaction time: the record as the register knew it at this moment (RFC 3339).
    known_at: Option<String>,
}

#[utoipa::path(get, path = "/v1/persons/{pin}", params(("pin" = String, Path, pattern = r"^[0-9]{10,12}$", description = "Personal identification number"), PersonQuery,
        ("Purpose" = Option<String>, Header, description = "Why the data is read; recorded in the access log")),
    responses((status = 200, body = wire::Person, headers(("ETag" = String))), (status = 400, body = wire::Problem, content_type = "application/problem+json"),
        (status = 403, body = wire::Problem, content_type = "application/problem+json"), (status = 404, body = wire::Problem, content_type = "application/problem+json")))]
async fn get_person(
    State(state): State<AppState>,
    PinParam(pin): PinParam,
    ApiQuery(q): ApiQuery<PersonQuery>,
    Caller(ctx): Caller,
) -> ApiResult<Response> {
    let as_of = q
        .as_of
        .as_deref()
        .map(|d| {
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-date",
                    format!("as_of {d:?} is not YYYY-MM-DD"),
                )
            })
        })
        .transpose()?;
    let known_at = q
        .known_at
        .as_deref()
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid-date",
                        format!("known_at {t:?} is not RFC 3339"),
                    )
                })
        })
        .transpose()?;
    let person = state
        .register
        .person(&ctx, &pin, View { as_of, known_at })
        .await?;
    let mut response = axum::Json(person_out(&person)?).into_response();
    response
        .headers_mut()
        .insert(header::ETAG, etag(person.version));
    Ok(response)
}

#[utoipa::path(get, path = "/v1/persons/{pin}/history", params(("pin" = String, Path, pattern = r"^[0-9]{10,12}$", description = "Personal identification number")),
    responses((status = 200, body = wire::History), (status = 404, body = wire::Problem, content_type = "application/problem+json")))]
async fn get_history(
    State(state): State<AppState>,
    PinParam(pin): PinParam,
    Caller(ctx): Caller,
) -> ApiResult<axum::Json<wire::History>> {
    let events = state.register.history(&ctx, &pin).await?;
    Ok(axum::Json(wire::History {
        pin: pin.to_string(),
        events: events.iter().map(|(s, e)| event_out(s, e)).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/persons/{pin}/relatives", params(("pin" = String, Path, pattern = r"^[0-9]{10,12}$", description = "Personal identification number")),
    responses((status = 200, body = wire::Relatives), (status = 404, body = wire::Problem, content_type = "application/problem+json")))]
async fn get_relatives(
    State(state): State<AppState>,
    PinParam(pin): PinParam,
    Caller(ctx): Caller,
) -> ApiResult<axum::Json<wire::Relatives>> {
    let r = state.register.relatives(&ctx, &pin).await?;
    let out = |rel: &thabian_register::Relative| -> ApiResult<wire::Relative> {
        Ok(wire::Relative {
            pin: rel.pin.to_string(),
            person: rel.person.as_ref().map(person_out).transpose()?,
        })
    };
    Ok(axum::Json(wire::Relatives {
        father: r.father.as_ref().map(out).transpose()?,
        mother: r.mother.as_ref().map(out).transpose()?,
        spouse: r.spouse.as_ref().map(out).transpose()?,
        children: r.children.iter().map(out).collect::<ApiResult<_>>()?,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct LimitQuery {
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/v1/persons/{pin}/access-log", params(("pin" = String, Path, pattern = r"^[0-9]{10,12}$", description = "Personal identification number"), LimitQuery),
    responses((status = 200, body = Vec<wire::AccessEntry>)))]
async fn get_person_access_log(
    State(state): State<AppState>,
    PinParam(pin): PinParam,
    ApiQuery(q): ApiQuery<LimitQuery>,
    Caller(ctx): Caller,
) -> ApiResult<axum::Json<Vec<wire::AccessEntry>>> {
    let records = state
        .register
        .access_for_person(&ctx, &pin, q.limit.unwrap_or(1000))
        .await?;
    Ok(axum::Json(
        records
            .into_iter()
            .map(|a| wire::AccessEntry {
                id: a.id,
                at: a.at,
                official_id: a.official_id,
                pin: a.pin,
                action: a.action,
                purpose: a.purpose,
                client: a.client,
                detail: a.detail,
                event_seq: a.event_seq,
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/v1/persons/{pin}/events", request_body = wire::EventSubmission,
    params(("pin" = String, Path, pattern = r"^[0-9]{10,12}$", description = "Personal identification number"), ("If-Match" = String, Header, description = "The person's ETag (required)"),
        ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = wire::ChangeResult), (status = 412, body = wire::Problem, content_type = "application/problem+json"),
        (status = 422, body = wire::Problem, content_type = "application/problem+json"), (status = 428, body = wire::Problem, content_type = "application/problem+json")))]
async fn submit_event(
    State(state): State<AppState>,
    PinParam(pin): PinParam,
    Caller(ctx): Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<wire::EventSubmission>,
) -> ApiResult<Response> {
    let version = if_match(&headers)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition-required",
            "send If-Match with the person's ETag",
        )
    })?;
    let effective = parse_date("effective", &req.effective)?;
    let p = pin.clone();
    use wire::EventRequest as R;
    let payload = match &req.event {
        R::RecordsMerged { retired } => EventPayload::RecordsMerged {
            survivor: p,
            retired: parse_pin(&state, retired)?,
        },
        R::RecordsUnmerged { retired } => EventPayload::RecordsUnmerged {
            survivor: p,
            retired: parse_pin(&state, retired)?,
        },
        R::DeathRecorded { place_of_death } => EventPayload::DeathRecorded {
            pin: p,
            date_of_death: effective,
            place_of_death: place_of_death.clone(),
        },
        R::MarriageRegistered { spouse } => EventPayload::MarriageRegistered {
            a: p,
            b: parse_pin(&state, spouse)?,
        },
        R::DivorceRegistered { spouse } => EventPayload::DivorceRegistered {
            a: p,
            b: parse_pin(&state, spouse)?,
        },
        R::PermanentResidenceChanged {
            area,
            address_lines,
        } => EventPayload::PermanentResidenceChanged {
            pin: p,
            residence: thabian_model::person::Residence {
                area: area.clone(),
                address_lines: address_lines.clone(),
                since: effective,
            },
        },
        R::TemporaryResidenceStarted {
            area,
            address_lines,
        } => EventPayload::TemporaryResidenceStarted {
            pin: p,
            residence: thabian_model::person::Residence {
                area: area.clone(),
                address_lines: address_lines.clone(),
                since: effective,
            },
        },
        R::TemporaryResidenceEnded {} => EventPayload::TemporaryResidenceEnded { pin: p },
        R::HouseholdJoined {
            household,
            relationship,
        } => EventPayload::HouseholdJoined {
            household: household.clone(),
            pin: p,
            relationship: via_json(relationship)?,
        },
        R::HouseholdLeft { household } => EventPayload::HouseholdLeft {
            household: household.clone(),
            pin: p,
        },
        R::HouseholdHeadChanged {
            household,
            relationships,
        } => {
            let mut rels = std::collections::BTreeMap::new();
            for (member, rel) in relationships {
                rels.insert(parse_pin(&state, member)?, via_json(rel)?);
            }
            EventPayload::HouseholdHeadChanged {
                household: household.clone(),
                new_head: p,
                relationships: rels,
            }
        }
        R::NameChanged { names: n } => EventPayload::NameChanged {
            pin: p,
            names: names(n)?,
        },
        R::ParticularsCorrected { corrections } => {
            let c = corrections;
            EventPayload::ParticularsCorrected {
                pin: p,
                corrections: thabian_model::event::Corrections {
                    names: c.names.as_ref().map(names).transpose()?,
                    sex: c.sex.as_ref().map(via_json).transpose()?,
                    date_of_birth: c
                        .date_of_birth
                        .as_deref()
                        .map(|d| parse_date("date_of_birth", d))
                        .transpose()?,
                    place_of_birth: c.place_of_birth.clone(),
                    nationalities: c.nationalities.clone(),
                    ethnicity: c.ethnicity.clone(),
                    religion: c.religion.clone(),
                    father: c.father.as_ref().map(|f| parent(&state, f)).transpose()?,
                    mother: c.mother.as_ref().map(|m| parent(&state, m)).transpose()?,
                    date_of_death: c
                        .date_of_death
                        .as_deref()
                        .map(|d| parse_date("date_of_death", d))
                        .transpose()?,
                },
            }
        }
        R::AdoptionRegistered { father, mother } => EventPayload::AdoptionRegistered {
            pin: p,
            father: father.as_ref().map(|f| parent(&state, f)).transpose()?,
            mother: mother.as_ref().map(|m| parent(&state, m)).transpose()?,
        },
        R::NationalityAcquired { nationality } => EventPayload::NationalityAcquired {
            pin: p,
            nationality: nationality.clone(),
        },
        R::NationalityLost { nationality } => EventPayload::NationalityLost {
            pin: p,
            nationality: nationality.clone(),
        },
        R::StatusChanged { status } => EventPayload::StatusChanged {
            pin: p,
            status: via_json(status)?,
        },
    };
    let submission = Submission {
        change: Change::Event(payload),
        effective,
        legal_basis: legal_basis(&req.legal_basis),
        office: req.office,
        idempotency_key: idempotency_key(&headers)?,
        target: Some(pin.clone()),
        if_match: Some(version),
    };
    let result = state.register.submit(&ctx, submission).await?;
    Ok(created(&result, Some(format!("/v1/persons/{pin}"))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct FeedQuery {
    /// Cursor: the last `seq` you processed (0 to start).
    after: Option<u64>,
    /// Comma-separated event kinds.
    kinds: Option<String>,
    /// Admin-area code: only events about people in this subtree.
    area: Option<String>,
    /// At most 1000.
    limit: Option<u32>,
    /// Long-poll: seconds to wait for the first event (at most 60).
    wait: Option<u64>,
}

#[utoipa::path(get, path = "/v1/events", params(FeedQuery),
    responses((status = 200, body = wire::FeedPage)))]
async fn get_feed(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<FeedQuery>,
    Caller(ctx): Caller,
) -> ApiResult<axum::Json<wire::FeedPage>> {
    let kinds = q
        .kinds
        .map(|k| {
            k.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let page = state
        .register
        .feed(
            &ctx,
            q.after.unwrap_or(0),
            kinds,
            q.area,
            q.limit.unwrap_or(100),
            std::time::Duration::from_secs(q.wait.unwrap_or(0).min(60)),
        )
        .await?;
    Ok(axum::Json(wire::FeedPage {
        events: page.events.iter().map(|(s, e)| event_out(s, e)).collect(),
        next: page.next,
    }))
}

#[utoipa::path(get, path = "/v1/log/key", security(()), responses((status = 200, body = wire::LogKey)))]
async fn get_log_key(State(state): State<AppState>) -> axum::Json<wire::LogKey> {
    axum::Json(wire::LogKey {
        vkey: state.log.verifier_key(),
    })
}

fn checkpoint_out(c: &thabian_store::CheckpointRow) -> wire::Checkpoint {
    wire::Checkpoint {
        size: c.size,
        root: b64(&c.root),
        time: c.time.clone(),
        note: c.note.clone(),
    }
}

#[utoipa::path(get, path = "/v1/log/checkpoint", security(()),
    responses((status = 200, body = wire::Checkpoint), (status = 404, body = wire::Problem, content_type = "application/problem+json")))]
async fn get_latest_checkpoint(
    State(state): State<AppState>,
) -> ApiResult<axum::Json<wire::Checkpoint>> {
    let c =
        state.log.latest_checkpoint().await?.ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, "not-found", "no checkpoint yet")
        })?;
    Ok(axum::Json(checkpoint_out(&c)))
}

#[utoipa::path(get, path = "/v1/log/checkpoints/{size}", security(()), params(("size" = u64, Path)),
    responses((status = 200, body = wire::Checkpoint), (status = 404, body = wire::Problem, content_type = "application/problem+json")))]
async fn get_checkpoint(
    State(state): State<AppState>,
    ApiPath(size): ApiPath<u64>,
) -> ApiResult<axum::Json<wire::Checkpoint>> {
    let c = state.log.checkpoint(size).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no checkpoint at size {size}"),
        )
    })?;
    Ok(axum::Json(checkpoint_out(&c)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct InclusionQuery {
    /// The event's commit position (leaf index + 1).
    #[param(minimum = 1)]
    seq: u64,
    /// Tree size; defaults to the latest checkpoint's.
    tree_size: Option<u64>,
}

#[utoipa::path(get, path = "/v1/log/proofs/inclusion", security(()), params(InclusionQuery),
    responses((status = 200, body = wire::InclusionProof), (status = 400, body = wire::Problem, content_type = "application/problem+json")))]
async fn get_inclusion_proof(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<InclusionQuery>,
) -> ApiResult<axum::Json<wire::InclusionProof>> {
    let p = state.log.inclusion(q.seq, q.tree_size).await?;
    Ok(axum::Json(wire::InclusionProof {
        leaf_index: p.leaf_index,
        tree_size: p.tree_size,
        leaf_hash: b64(&p.leaf_hash),
        hashes: p.hashes.iter().map(|h| b64(h)).collect(),
        root: b64(&p.root),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    old: u64,
    new: u64,
}

#[utoipa::path(get, path = "/v1/log/proofs/consistency", security(()), params(ConsistencyQuery),
    responses((status = 200, body = wire::ConsistencyProof), (status = 400, body = wire::Problem, content_type = "application/problem+json")))]
async fn get_consistency_proof(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> ApiResult<axum::Json<wire::ConsistencyProof>> {
    let p = state.log.consistency(q.old, q.new).await?;
    Ok(axum::Json(wire::ConsistencyProof {
        old_size: p.old_size,
        new_size: p.new_size,
        hashes: p.hashes.iter().map(|h| b64(h)).collect(),
        old_root: b64(&p.old_root),
        new_root: b64(&p.new_root),
    }))
}

fn official_out(o: thabian_store::OfficialRow) -> wire::Official {
    wire::Official {
        id: o.id,
        name: o.name,
        role: o.role,
        jurisdiction: o.jurisdiction,
        office: o.office,
        created_at: o.created_at,
        disabled_at: o.disabled_at,
    }
}

#[utoipa::path(get, path = "/v1/officials", responses((status = 200, body = Vec<wire::Official>)))]
async fn list_officials(
    State(state): State<AppState>,
    Caller(ctx): Caller,
) -> ApiResult<axum::Json<Vec<wire::Official>>> {
    Ok(axum::Json(
        state
            .register
            .officials(&ctx)
            .await?
            .into_iter()
            .map(official_out)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/v1/officials", request_body = wire::NewOfficial,
    responses((status = 201, body = wire::Official), (status = 422, body = wire::Problem, content_type = "application/problem+json")))]
async fn create_official(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiJson(req): ApiJson<wire::NewOfficial>,
) -> ApiResult<Response> {
    use thabian_register::Role as R;
    let role = match req.role {
        wire::Role::Registrar => R::Registrar,
        wire::Role::Supervisor => R::Supervisor,
        wire::Role::CardOfficer => R::CardOfficer,
        wire::Role::Auditor => R::Auditor,
        wire::Role::Administrator => R::Administrator,
        wire::Role::ServiceAccount => R::ServiceAccount,
    };
    let o = state
        .register
        .create_official(
            &ctx,
            thabian_register::NewOfficial {
                id: req.id,
                name: req.name,
                role,
                jurisdiction: req.jurisdiction,
                office: req.office,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(official_out(o))).into_response())
}

#[utoipa::path(post, path = "/v1/officials/{id}/disable", params(("id" = String, Path)), responses((status = 204)))]
async fn disable_official(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.register.disable_official(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/officials/{id}/tokens", params(("id" = String, Path)), responses((status = 200, body = Vec<wire::TokenInfo>)))]
async fn list_tokens(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::Json<Vec<wire::TokenInfo>>> {
    let tokens = state.register.tokens(&ctx, &id).await?;
    Ok(axum::Json(
        tokens
            .into_iter()
            .map(|t| wire::TokenInfo {
                id: t.id,
                official_id: t.official_id,
                label: t.label,
                created_at: t.created_at,
                expires_at: t.expires_at,
                revoked_at: t.revoked_at,
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/v1/officials/{id}/tokens", params(("id" = String, Path)), request_body = wire::NewToken,
    responses((status = 201, body = wire::IssuedToken)))]
async fn issue_token(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<wire::NewToken>,
) -> ApiResult<Response> {
    let t = state
        .register
        .issue_token(
            &ctx,
            &id,
            &req.label,
            chrono::Duration::days(i64::from(req.days)),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(wire::IssuedToken {
            id: t.id,
            token: t.token,
            official_id: t.official_id,
            expires_at: t.expires_at,
        }),
    )
        .into_response())
}

#[utoipa::path(post, path = "/v1/tokens/{id}/revoke", params(("id" = String, Path)), responses((status = 204)))]
async fn revoke_token(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.register.revoke_token(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------- search and review

#[utoipa::path(get, path = "/v1/persons/search", params(wire::SearchParams),
    responses((status = 200, body = wire::SearchResponse)))]
async fn search_persons(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiQuery(q): ApiQuery<wire::SearchParams>,
) -> ApiResult<axum::Json<wire::SearchResponse>> {
    let window = q.year_window.unwrap_or(0);
    if window > 10 {
        return Err(ApiError::bad_request("year_window is 0 to 10"));
    }
    let sex = match q.sex.as_deref() {
        None | Some("") => None,
        Some(s) => Some(via_json(&s)?),
    };
    let blank = |v: &Option<String>| v.as_ref().filter(|s| !s.trim().is_empty()).cloned();
    let query = thabian_model::linkage::SearchQuery {
        name: blank(&q.name),
        date_of_birth: blank(&q.date_of_birth)
            .map(|d| parse_date("date_of_birth", &d))
            .transpose()?,
        year_window: window,
        sex,
        place_of_birth: blank(&q.place_of_birth),
        residence: blank(&q.residence),
        father_name: blank(&q.father_name),
        mother_name: blank(&q.mother_name),
    };
    let page = state
        .register
        .search(&ctx, &query, q.offset.unwrap_or(0), q.limit.unwrap_or(20))
        .await?;
    let mut hits = Vec::with_capacity(page.hits.len());
    for h in page.hits {
        hits.push(wire::SearchHit {
            pin: h.pin.to_string(),
            score: h.score,
            fields: h.fields.iter().map(field_out).collect(),
            person: h.person.as_ref().map(person_out).transpose()?,
        });
    }
    Ok(axum::Json(wire::SearchResponse {
        hits,
        total: page.total,
        offset: page.offset,
        truncated: page.truncated,
        model: page.model,
    }))
}

fn field_out(f: &thabian_model::linkage::FieldExplanation) -> wire::FieldMatch {
    wire::FieldMatch {
        field: f.field.as_str().to_owned(),
        level: f.level.as_str().to_owned(),
        weight: f.weight,
        how: f.how.clone(),
    }
}

#[utoipa::path(get, path = "/v1/review-cases", params(wire::CaseListParams),
    responses((status = 200, description = "Review cases (JSON array)", body = Vec<Object>)))]
async fn list_review_cases(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiQuery(q): ApiQuery<wire::CaseListParams>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let status = match q.status.as_deref() {
        None | Some("open") => Some("open"),
        Some("decided") => Some("decided"),
        Some("all") => None,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "status {other:?}: expected open, decided or all"
            )))
        }
    };
    let cases = state
        .register
        .review_cases(
            &ctx,
            status,
            q.after.as_deref().unwrap_or(""),
            q.limit.unwrap_or(50),
        )
        .await?;
    Ok(axum::Json(serde_json::to_value(cases).unwrap_or_default()))
}

#[utoipa::path(get, path = "/v1/review-cases/{id}", params(("id" = String, Path)),
    responses((status = 200, description = "The case and its records side by side, field by field", body = Object),
        (status = 404, body = wire::Problem, content_type = "application/problem+json")))]
async fn get_review_case(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let view = state.register.review_case(&ctx, &id).await?;
    Ok(axum::Json(serde_json::to_value(view).unwrap_or_default()))
}

#[utoipa::path(post, path = "/v1/review-cases/{id}/decision", params(("id" = String, Path)),
    request_body = wire::DecisionRequest,
    responses((status = 200, description = "The decided case", body = Object),
        (status = 404, body = wire::Problem, content_type = "application/problem+json")))]
async fn decide_review_case(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<wire::DecisionRequest>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let decision = match req.decision.as_str() {
        "same_person" => thabian_model::event::ReviewDecision::SamePerson,
        "different_people" => thabian_model::event::ReviewDecision::DifferentPeople,
        other => {
            return Err(ApiError::bad_request(format!(
                "decision {other:?}: expected same_person or different_people"
            )))
        }
    };
    let case = state
        .register
        .decide_case(
            &ctx,
            &id,
            decision,
            &req.reason,
            &legal_basis(&req.legal_basis),
        )
        .await?;
    Ok(axum::Json(serde_json::to_value(case).unwrap_or_default()))
}

// ---------------------------------------------------------------------------- cards

fn card_out(card: &thabian_model::card::Card, today: chrono::NaiveDate) -> wire::CardOut {
    let bio = |b: &thabian_model::card::BiometricRef| wire::BiometricRefOut {
        id: b.id.clone(),
        sha256: b.sha256.clone(),
        format: b.format.clone(),
        position: b.position,
    };
    wire::CardOut {
        id: card.id.clone(),
        number: card.number.clone(),
        status: card.status.as_str().to_owned(),
        effective_status: thabian_model::card::effective_status(card, today)
            .as_str()
            .to_owned(),
        reason: serde_json::to_value(card.reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        replaces: card.replaces.clone(),
        applied_by: card.applied_by.clone(),
        applied_on: card.applied_on.to_string(),
        face: bio(&card.face),
        fingerprints: card.fingerprints.iter().map(bio).collect(),
        batch: card.batch.clone(),
        date_of_issue: card.date_of_issue.map(|d| d.to_string()),
        date_of_expiry: card.date_of_expiry.map(|d| d.to_string()),
        document_signer: card.document_signer.clone(),
        sod_sha256: card.sod_sha256.clone(),
        status_reason: card.status_reason.clone(),
    }
}

fn sample_in(s: &wire::BiometricSampleIn) -> ApiResult<thabian_register::cards::BiometricSample> {
    let data = base64::engine::general_purpose::STANDARD
        .decode(s.data.as_bytes())
        .map_err(|_| ApiError::bad_request("a biometric sample's data is base64"))?;
    Ok(thabian_register::cards::BiometricSample {
        format: s.format.clone(),
        position: s.position,
        data,
    })
}

#[utoipa::path(get, path = "/v1/persons/{pin}/cards",
    params(("pin" = String, Path, pattern = r"^[0-9]{10,12}$", description = "Personal identification number")),
    responses((status = 200, body = Vec<wire::CardOut>),
        (status = 404, body = wire::Problem, content_type = "application/problem+json")))]
async fn list_cards(
    State(state): State<AppState>,
    PinParam(pin): PinParam,
    Caller(ctx): Caller,
) -> ApiResult<axum::Json<Vec<wire::CardOut>>> {
    let today = state.register.now().date_naive();
    let cards = state.register.cards(&ctx, &pin).await?;
    Ok(axum::Json(
        cards.iter().map(|c| card_out(c, today)).collect(),
    ))
}

#[utoipa::path(post, path = "/v1/persons/{pin}/cards", request_body = wire::CardApplicationRequest,
    params(("pin" = String, Path, pattern = r"^[0-9]{10,12}$", description = "Personal identification number"),
        ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = wire::CardApplied),
        (status = 200, description = "A repeated application (same Idempotency-Key)", body = wire::CardApplied),
        (status = 404, body = wire::Problem, content_type = "application/problem+json"),
        (status = 422, body = wire::Problem, content_type = "application/problem+json")))]
async fn apply_for_card(
    State(state): State<AppState>,
    PinParam(pin): PinParam,
    Caller(ctx): Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<wire::CardApplicationRequest>,
) -> ApiResult<Response> {
    use thabian_model::card::ApplicationReason as R;
    let reason = match req.reason.as_str() {
        "first" => R::First,
        "renewal" => R::Renewal,
        "replacement" => R::Replacement,
        "change_of_particulars" => R::ChangeOfParticulars,
        other => {
            return Err(ApiError::bad_request(format!(
                "reason {other:?}: expected first, renewal, replacement or change_of_particulars"
            )))
        }
    };
    let application = thabian_register::cards::CardApplication {
        reason,
        replaces: req.replaces.clone(),
        face: sample_in(&req.face)?,
        fingerprints: req
            .fingerprints
            .iter()
            .map(sample_in)
            .collect::<ApiResult<Vec<_>>>()?,
        legal_basis: legal_basis(&req.legal_basis),
        idempotency_key: idempotency_key(&headers)?,
    };
    let applied = state
        .register
        .apply_for_card(&ctx, &pin, application)
        .await?;
    let status = if applied.outcome.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        axum::Json(wire::CardApplied {
            card: applied.card,
            number: applied.number,
            result: outcome_out(&applied.outcome),
        }),
    )
        .into_response())
}

#[utoipa::path(post, path = "/v1/persons/{pin}/cards/{card}/events", request_body = wire::CardChangeRequest,
    params(("pin" = String, Path, pattern = r"^[0-9]{10,12}$", description = "Personal identification number"),
        ("card" = String, Path, description = "The card's id"),
        ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = wire::ChangeResult),
        (status = 200, description = "A repeated change (same Idempotency-Key)", body = wire::ChangeResult),
        (status = 404, body = wire::Problem, content_type = "application/problem+json"),
        (status = 422, body = wire::Problem, content_type = "application/problem+json")))]
async fn change_card(
    State(state): State<AppState>,
    ApiPath(ids): ApiPath<(String, String)>,
    Caller(ctx): Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<wire::CardChangeRequest>,
) -> ApiResult<Response> {
    let (pin, card) = ids;
    let pin = parse_pin(&state, &pin)?;
    use thabian_model::card::CardChange as C;
    let reason = || {
        req.reason
            .clone()
            .ok_or_else(|| ApiError::bad_request(format!("{} needs a reason", req.action)))
    };
    let change = match req.action.as_str() {
        "approved" => C::Approved,
        "rejected" => C::Rejected { reason: reason()? },
        "batched" => C::Batched {
            batch: req
                .batch
                .clone()
                .ok_or_else(|| ApiError::bad_request("batched needs the batch"))?,
        },
        "issued" => C::Issued,
        "activated" => C::Activated,
        "suspended" => C::Suspended { reason: reason()? },
        "reinstated" => C::Reinstated,
        "reported_lost" => C::ReportedLost,
        "reported_stolen" => C::ReportedStolen,
        "revoked" => C::Revoked { reason: reason()? },
        "expired" => C::Expired,
        other => {
            return Err(ApiError::bad_request(format!(
                "action {other:?}: expected approved, rejected, batched, issued, activated, \
                 suspended, reinstated, reported_lost, reported_stolen, revoked or expired"
            )))
        }
    };
    let outcome = state
        .register
        .change_card(
            &ctx,
            &pin,
            &card,
            change,
            legal_basis(&req.legal_basis),
            idempotency_key(&headers)?,
        )
        .await?;
    Ok(created(&outcome, None))
}

#[utoipa::path(get, path = "/v1/persons/{pin}/biometrics/{id}",
    params(("pin" = String, Path, pattern = r"^[0-9]{10,12}$", description = "Personal identification number"),
        ("id" = String, Path, description = "The sample's id")),
    responses((status = 200, description = "The sample's bytes, with its format as the content type",
            content(("application/octet-stream"), ("image/jpeg"), ("image/jp2"))),
        (status = 404, body = wire::Problem, content_type = "application/problem+json")))]
async fn get_biometric_sample(
    State(state): State<AppState>,
    ApiPath(ids): ApiPath<(String, String)>,
    Caller(ctx): Caller,
) -> ApiResult<Response> {
    let (pin, id) = ids;
    let pin = parse_pin(&state, &pin)?;
    let (format, bytes) = state.register.biometric_sample(&ctx, &pin, &id).await?;
    let content_type = match format.as_str() {
        "image/jpeg" | "image/jp2" => format.clone(),
        _ => "application/octet-stream".to_owned(),
    };
    let mut response = bytes.into_response();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[utoipa::path(get, path = "/v1/cards/{number}/status",
    params(("number" = String, Path, description = "The card number")),
    responses((status = 200, body = wire::CardStatusOut),
        (status = 404, body = wire::Problem, content_type = "application/problem+json")))]
async fn get_card_status(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<String>,
    Caller(ctx): Caller,
) -> ApiResult<axum::Json<wire::CardStatusOut>> {
    let today = state.register.now().date_naive();
    let (_, card) = state
        .register
        .card_by_number(&ctx, &number)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not-found",
                format!("no card {number}"),
            )
        })?;
    let status = thabian_model::card::effective_status(&card, today);
    Ok(axum::Json(wire::CardStatusOut {
        number,
        status: status.as_str().to_owned(),
        valid: matches!(
            status,
            thabian_model::card::CardStatus::Issued | thabian_model::card::CardStatus::Active
        ),
        date_of_expiry: card.date_of_expiry.map(|d| d.to_string()),
    }))
}

#[utoipa::path(get, path = "/v1/pki", security(()),
    responses((status = 200, description = "The national PKI's public documents (ICAO Doc 9303 Part 12)", body = Vec<wire::PkiDocument>)))]
async fn list_pki_documents(
    State(state): State<AppState>,
) -> ApiResult<axum::Json<Vec<wire::PkiDocument>>> {
    use sha2::Digest;
    let docs = state.register.pki_documents().await?;
    Ok(axum::Json(
        docs.into_iter()
            .map(|d| wire::PkiDocument {
                sha256: hex::encode(sha2::Sha256::digest(&d.body)),
                name: d.name,
                media_type: d.media_type,
                updated_at: d.updated_at,
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/v1/pki/{name}", security(()), params(("name" = String, Path)),
    responses((status = 200, description = "The document: a DER certificate, CRL or CMS master list",
            content(("application/pkix-cert"), ("application/pkix-crl"), ("application/cms"))),
        (status = 404, body = wire::Problem, content_type = "application/problem+json")))]
async fn get_pki_document(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Response> {
    let doc = state.register.pki_document(&name).await?;
    let mut response = doc.body.into_response();
    if let Ok(v) = HeaderValue::from_str(&doc.media_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    Ok(response)
}

#[utoipa::path(post, path = "/v1/cards/verify", request_body = wire::CardVerifyRequest,
    responses((status = 200, description = "The verification report (also when a check failed: see `verified`)", body = wire::CardVerifyResult),
        (status = 400, body = wire::Problem, content_type = "application/problem+json")))]
async fn verify_card(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiJson(req): ApiJson<wire::CardVerifyRequest>,
) -> ApiResult<axum::Json<wire::CardVerifyResult>> {
    let decode = |name: &str, text: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|_| ApiError::bad_request(format!("file {name} is not base64")))
    };
    let mut files = thabian_register::cards::ChipFiles {
        printed_mrz: req.printed_mrz.clone(),
        ..Default::default()
    };
    for (name, text) in &req.files {
        let bytes = decode(name, text)?;
        match name.as_str() {
            "EF.SOD" => files.ef_sod = bytes,
            "EF.COM" => files.ef_com = Some(bytes),
            other => {
                let n = other
                    .strip_prefix("DG")
                    .and_then(|n| n.parse::<u8>().ok())
                    .filter(|n| (1..=16).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "file {other:?}: expected EF.SOD, EF.COM or DG1 ... DG16"
                        ))
                    })?;
                files.data_groups.push((n, bytes));
            }
        }
    }
    if files.ef_sod.is_empty() {
        return Err(ApiError::bad_request("files must hold EF.SOD"));
    }
    files.data_groups.sort_by_key(|(n, _)| *n);
    let at = req
        .at
        .as_deref()
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| ApiError::bad_request(format!("at {t:?} is not RFC 3339")))
        })
        .transpose()?;
    let today = state.register.now().date_naive();
    let verified = state
        .register
        .verify_card(&ctx, files, at, req.online)
        .await?;
    let online_status = verified.online.as_ref().map(|card| {
        let status = thabian_model::card::effective_status(card, today);
        wire::CardStatusOut {
            number: card.number.clone(),
            status: status.as_str().to_owned(),
            valid: matches!(
                status,
                thabian_model::card::CardStatus::Issued | thabian_model::card::CardStatus::Active
            ),
            date_of_expiry: card.date_of_expiry.map(|d| d.to_string()),
        }
    });
    let passed = verified.report.passed()
        && (!req.online
            || (online_status.as_ref().is_some_and(|s| s.valid)
                && verified.sod_current != Some(false)));
    Ok(axum::Json(wire::CardVerifyResult {
        verified: passed,
        report: serde_json::to_value(&verified.report).unwrap_or_default(),
        online_status,
        sod_current: verified.sod_current,
    }))
}
