import { useEffect, useState } from 'preact/hooks';

/** Pages live in the URL fragment (`#/health`), so the server serves one document and reloads keep the page. */
export const currentRoute = (): string => location.hash.replace(/^#/, '') || '/';

export const navigate = (route: string): void => {
  location.hash = route;
};

export const useRoute = (): string => {
  const [route, setRoute] = useState(currentRoute());
  useEffect(() => {
    const changed = () => setRoute(currentRoute());
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
};
