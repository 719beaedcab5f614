// @ts-check
// A page written the way government sites use CHT's HiPKI Local Sign
// Server (the public field list: func, tbs, tbsEncoding, hashAlgorithm,
// signatureType, pin, nonce, withCardSN; answers with ret_code,
// last_error, signature, certb64, cardSN, slots): the popupForm with
// postMessage and the event.origin check, and fetch to /pkcs11info and
// /sign. The e2e test (hipki.test.mjs) calls hipki.popup and hipki.fetch*.
'use strict';

const SERVER = 'http://localhost:61161';

/** @param {string} id */
const byId = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

/**
 * One popup request: open popupForm, wait for getTbs, post the request,
 * take the answer; only messages whose origin is the server's count.
 * @param {object} payload
 * @param {number} timeoutMs
 * @returns {Promise<object>}
 */
function popupRequest(payload, timeoutMs) {
  return new Promise((resolve, reject) => {
    const win = window.open(SERVER + '/popupForm', '簽章中', 'height=200, width=200, left=100, top=20');
    if (!win) {
      reject(new Error('開啟 HiCosLocalSign 網頁失敗'));
      return;
    }
    let ready = false;
    /** @param {(v: any) => void} fn @param {any} v */
    const done = (fn, v) => {
      window.removeEventListener('message', onMessage);
      clearTimeout(timer);
      fn(v);
    };
    /** @param {MessageEvent} event */
    function onMessage(event) {
      if (event.origin !== SERVER) return; // 只處理元件的訊息
      let ret;
      try {
        ret = JSON.parse(event.data);
      } catch (e) {
        done(reject, new Error('receiveMessage, exception:' + /** @type {Error} */ (e).message));
        return;
      }
      if (ret.func === 'getTbs') {
        ready = true;
        // As the CHT library does: "+" written as %2B.
        /** @type {Window} */ (win).postMessage(JSON.stringify(payload).replace(/\+/g, '%2B'), SERVER);
        return;
      }
      if (event.source !== win) {
        done(reject, new Error('answer from another window'));
        return;
      }
      done(resolve, ret);
    }
    window.addEventListener('message', onMessage);
    const timer = setTimeout(() => {
      if (win && !win.closed) win.close();
      done(reject, new Error(ready ? '元件逾時未回應' : '逾時未回應, 請檢查是否尚未安裝跨平台(簽章)元件.'));
    }, timeoutMs);
  });
}

/** GET /pkcs11info?withcert=true. */
async function fetchInfo() {
  const r = await fetch(SERVER + '/pkcs11info?withcert=true');
  return r.json();
}

/** POST /sign, tbsPackage=<JSON>. @param {object} pkg */
async function fetchSign(pkg) {
  const r = await fetch(SERVER + '/sign', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'tbsPackage=' + JSON.stringify(pkg).replace(/\+/g, '%2B'),
  });
  return r.json();
}

const log = /** @type {HTMLElement} */ (document.getElementById('log'));
/** @param {string} state @param {string} text */
function show(state, text) {
  log.dataset.state = state;
  log.textContent = text;
}
/** @param {any} ret */
function explain(ret) {
  if (ret.ret_code === 0) return null;
  return '跨平台(簽章)元件作業失敗, 錯誤代碼: 0x' + (ret.ret_code >>> 0).toString(16) + (ret.last_error ? ' / 0x' + (ret.last_error >>> 0).toString(16) : '') + (ret.message ? '\n' + ret.message : '');
}

byId('certs-btn').onclick = async () => {
  show('busy', '讀取中…');
  try {
    /** @type {any} */
    const ret = await popupRequest({ func: 'GetUserCert' }, 60000);
    const err = explain(ret);
    if (err) return show('fail', err);
    const certs = ret.slots.flatMap((/** @type {any} */ s) => (s.token && s.token.certs ? s.token.certs.map((/** @type {any} */ c) => s.slotDescription + '：' + c.label + ' ' + c.subjectDN) : []));
    show('ok', '元件版本 ' + ret.serverVersion + '\n' + certs.join('\n'));
  } catch (e) {
    show('fail', /** @type {Error} */ (e).message);
  }
};

byId('sign-btn').onclick = async () => {
  show('busy', '簽章中…');
  try {
    /** @type {any} */
    const ret = await popupRequest({
      func: 'MakeSignature',
      tbs: byId('tbs').value,
      tbsEncoding: 'NONE',
      hashAlgorithm: 'SHA256',
      signatureType: 'PKCS7',
      pin: byId('pin').value,
      nonce: 'e2e-nonce-0001',
      withCardSN: 'true',
    }, 120000);
    const err = explain(ret);
    show(err ? 'fail' : 'ok', err || '簽章完成（PKCS7，' + ret.signature.length + ' 字元）\n卡號：' + (ret.cardSN || ''));
  } catch (e) {
    show('fail', /** @type {Error} */ (e).message);
  }
};

byId('fetch-btn').onclick = async () => {
  show('busy', '簽章中…');
  try {
    const ret = await fetchSign({ func: 'MakeSignature', tbs: btoa(unescape(encodeURIComponent(byId('tbs').value))), tbsEncoding: 'base64', hashAlgorithm: 'SHA256', signatureType: 'PKCS1', pin: byId('pin').value });
    const err = explain(ret);
    show(err ? 'fail' : 'ok', err || '簽章完成（PKCS1）');
  } catch (e) {
    show('fail', /** @type {Error} */ (e).message);
  }
};

/** @type {any} */ (window).hipki = { popup: popupRequest, fetchInfo, fetchSign };
